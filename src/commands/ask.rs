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
    let trace = args.trace.clone().unwrap_or_else(new_trace_dir);
    let (reasoning, run) = session.answer(video, &question, &trace)?;

    if args.json {
        let search = reasoning.search.as_ref();
        let json = serde_json::json!({
            "answer": run.result.as_ref().ok().map(|v| v.summary()),
            "path": reasoning.path,
            "reason": reasoning.reason,
            "confidence": reasoning.confidence,
            "theta": reasoning.theta,
            "program": reasoning.program,
            "fast": reasoning.fast,
            "slow": reasoning.slow,
            "param_search": reasoning.params,
            "votes": search.map(|s| &s.votes),
            "spent": search.map(|s| &s.spent),
            "llm_calls": reasoning.llm_calls,
            "seconds": reasoning.seconds,
            "trace": trace,
        });
        crate::output::print_json(&json)?;
    } else {
        print_summary(&reasoning, &run);
        errln!("trace: {}  (vprog trace show {0}; vprog report {0})", trace.display());
    }
    Ok(if run.result.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A directory no earlier `ask` used: `runs/ask/YYYYMMDD-HHMMSS`, with
/// `-2`, `-3`, ... when several questions start in the same second.
fn new_trace_dir() -> PathBuf {
    let unix_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    // "2026-12-07 01:02:03 UTC" -> "20261207-010203"
    let stamp: String = vprog_runtime::trace::report::utc(unix_ms)
        .trim_end_matches(" UTC")
        .chars()
        .filter_map(|c| match c {
            '-' | ':' => None,
            ' ' => Some('-'),
            c => Some(c),
        })
        .collect();
    let base = PathBuf::from("runs").join("ask");
    (1..)
        .map(|n| base.join(if n == 1 { stamp.clone() } else { format!("{stamp}-{n}") }))
        .find(|p| !p.exists())
        .unwrap_or_else(|| base.join(stamp))
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
