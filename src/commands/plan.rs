//! `vprog plan` (programs for a question, nothing run) and `vprog plan-eval`
//! (validity of the planner's programs on NExT-QA questions).

use std::process::ExitCode;

use vprog_eval::plan_eval::{plan_eval, read_rows, Selection};
use vprog_planner::plan::Planned;
use vprog_planner::validate::render_findings;

use crate::cli::{PlanArgs, PlanEvalArgs};

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let video = vprog_modules::video::open_video(&args.question.video, args.question.subtitles.as_deref()).map_err(anyhow::Error::from)?;
    let question = super::llm::question(&args.question, &video)?;
    let (rt, planner) = super::llm::runtime_and_planner(&args.llm, &args.plugins)?;
    let mut all = Vec::new();
    for i in 0..args.candidates {
        let temperature = if i == 0 { 0.0 } else { args.temperature };
        let seed = args.llm.seed.wrapping_add(i);
        let planned = if args.no_fallback {
            rt.block_on(planner.plan_seeded(&question, seed, temperature))?
        } else {
            rt.block_on(planner.plan_or_fallback(&question, seed, temperature))?
        };
        if !args.json {
            print_planned(i as usize + 1, &planned);
        }
        all.push(planned);
    }
    if args.json {
        let json: Vec<serde_json::Value> = all.iter().map(Planned::summary_json).collect();
        crate::output::print_json(&json)?;
    }
    Ok(if all.iter().any(|p| p.program.is_some()) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_planned(n: usize, p: &Planned) {
    let repairs = p.repairs();
    if p.program.is_none() || p.fallback.is_some() {
        errln!("program {n}: still invalid after {repairs} repair rounds; the last attempt:");
        if let Some(a) = p.attempts.last() {
            err!("{}", a.source);
            err!("{}", render_findings(&a.findings, &a.source));
        }
    }
    if let Some(c) = &p.program {
        let how = match (&p.fallback, repairs) {
            (Some(why), _) => format!("fallback ({why})"),
            (None, 0) => "valid as written".to_string(),
            (None, r) => format!("valid after {r} repair{}", if r == 1 { "" } else { "s" }),
        };
        let how = if p.revised() { format!("{how}, revised for usefulness") } else { how };
        outln!("# program {n}: {how}");
        out!("{}", c.source);
    }
}

pub fn eval(args: PlanEvalArgs) -> anyhow::Result<ExitCode> {
    let selection = Selection { split: args.split, offset: args.offset, limit: args.limit, spread: args.spread };
    let rows = read_rows(&args.csv, selection)?;
    let (rt, planner) = super::llm::runtime_and_planner(&args.llm, &args.plugins)?;
    let total = rows.len();
    let s = plan_eval(&planner, &rt, &rows, args.out.as_deref(), &mut |n, row| {
        if !args.json {
            errln!("{}", row.progress_line(n, total));
        }
    })?;
    if args.json {
        crate::output::print_json(&s)?;
    } else {
        s.report_lines().iter().for_each(|l| outln!("{l}"));
    }
    Ok(if s.backend_errors == rows.len() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
