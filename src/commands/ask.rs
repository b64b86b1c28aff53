//! `vprog ask`: fast–slow reasoning. A direct answer from cheap global
//! evidence first; below θ, programs planned and searched by running them,
//! with a parameter search over the best one; the direct answer when they
//! fail. The trace holds the program that answered and the whole reasoning.

use std::path::PathBuf;
use std::process::ExitCode;

use vprog_planner::fast_slow::Reasoning;
use vprog_runtime::exec::RunOutcome;

use crate::cli::AskArgs;

pub fn run(args: AskArgs) -> anyhow::Result<ExitCode> {
    let video = vprog_modules::video::open_video(&args.question.video, args.question.subtitles.as_deref()).map_err(anyhow::Error::from)?;
    let question = super::llm::question(&args.question, &video)?;
    let session = super::session::session(&args.reason, super::session::config(&args.reason)?, !args.json)?;
    let trace = args.trace.clone().unwrap_or_else(|| vprog_runtime::trace::fresh_dir(&PathBuf::from("runs").join("ask")));
    let (reasoning, run) = session.answer(video, &question, &trace)?;

    if args.json {
        let json = reasoning.summary_json(run.result.as_ref().ok().map(|v| v.summary()), &trace);
        crate::output::print_json(&json)?;
    } else {
        print_summary(&reasoning, &run);
        errln!("trace: {}  (vprog trace show {0}; vprog report {0})", trace.display());
    }
    Ok(if run.result.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_summary(r: &Reasoning, run: &RunOutcome) {
    match &run.result {
        Ok(v) => outln!("{}", v.summary()),
        Err(e) => errln!("vprog: no answer: {e}"),
    }
    for line in r.report_lines() {
        errln!("{line}");
    }
}
