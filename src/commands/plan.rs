//! `vprog plan` (programs for a question, nothing run) and `vprog plan-eval`
//! (validity of the planner's programs on NExT-QA questions).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use vprog_eval::plan_eval::{plan_eval, read_rows};
use vprog_planner::plan::Planned;
use vprog_planner::validate::render_findings;

use crate::cli::{PlanArgs, PlanEvalArgs};

fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Everything about one planned program, as `--json` prints it.
#[derive(Serialize)]
struct PlannedJson<'a> {
    valid: bool,
    program: Option<&'a str>,
    llm_calls: usize,
    attempts: &'a [vprog_planner::plan::Attempt],
}

fn to_json(p: &Planned) -> PlannedJson<'_> {
    PlannedJson {
        valid: p.program.is_some(),
        program: p.program.as_ref().map(|c| c.source.as_str()),
        llm_calls: p.llm_calls(),
        attempts: &p.attempts,
    }
}

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let video = vprog_modules::video::open_video(&args.question.video, args.question.subtitles.as_deref()).map_err(anyhow::Error::from)?;
    let question = super::llm::question(&args.question, &video)?;
    let registry = super::plugin::registry(&args.plugins)?;
    let rt = tokio()?;
    let backend = rt.block_on(super::llm::backend(&args.llm))?;
    let planner = super::llm::planner(backend, registry, &args.llm);
    let mut all = Vec::new();
    for i in 0..args.candidates {
        let temperature = if i == 0 { 0.0 } else { args.temperature };
        let planned = rt.block_on(planner.plan_seeded(&question, args.llm.seed.wrapping_add(i), temperature))?;
        if !args.json {
            print_planned(i as usize + 1, &planned);
        }
        all.push(planned);
    }
    if args.json {
        let json: Vec<PlannedJson<'_>> = all.iter().map(to_json).collect();
        crate::output::print_json(&json)?;
    }
    Ok(if all.iter().any(|p| p.program.is_some()) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_planned(n: usize, p: &Planned) {
    let repairs = p.attempts.len().saturating_sub(1);
    match &p.program {
        Some(c) => {
            let how = if repairs == 0 {
                "valid as written".to_string()
            } else {
                format!("valid after {repairs} repair{}", if repairs == 1 { "" } else { "s" })
            };
            outln!("# program {n}: {how}");
            out!("{}", c.source);
        }
        None => {
            errln!("program {n}: still invalid after {repairs} repair rounds; the last attempt:");
            if let Some(a) = p.attempts.last() {
                err!("{}", a.source);
                err!("{}", render_findings(&a.findings, &a.source));
            }
        }
    }
}

pub fn eval(args: PlanEvalArgs) -> anyhow::Result<ExitCode> {
    let rows = read_rows(&args.csv, args.offset, args.limit)?;
    let registry = super::plugin::registry(&args.plugins)?;
    let rt = tokio()?;
    let backend = rt.block_on(super::llm::backend(&args.llm))?;
    let planner = super::llm::planner(backend, registry, &args.llm);
    let mut out = match &args.out {
        Some(p) => Some((std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?), p)),
        None => None,
    };
    let total = rows.len();
    let s = plan_eval(&planner, &rt, &rows, &mut |n, row| {
        if !args.json {
            errln!(
                "[{n}/{total}] {} {:>5.1}s  {}{}",
                if row.valid_first {
                    "valid         "
                } else if row.valid {
                    "valid repaired"
                } else {
                    "INVALID       "
                },
                row.ms / 1000.0,
                row.question,
                row.error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
            );
        }
        if let Some((w, path)) = out.as_mut() {
            let io = |e: std::io::Error| vprog_eval::Error::Io { action: "write", path: path.to_path_buf(), error: e };
            serde_json::to_writer(&mut *w, row).map_err(|e| io(e.into()))?;
            writeln!(w).map_err(io)?;
        }
        Ok(())
    })?;
    if let Some((mut w, path)) = out {
        w.flush().with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        crate::output::print_json(&s)?;
    } else {
        outln!("backend:               {} ({})", s.backend, if s.constrained { "constrained decoding" } else { "unconstrained" });
        outln!("questions:             {}", s.questions);
        outln!("valid before repair:   {} ({:.1}%)", s.valid_before_repair, 100.0 * s.share_valid_before_repair);
        outln!(
            "valid after repair:    {} ({:.1}%, up to {} rounds)",
            s.valid_after_repair,
            100.0 * s.share_valid_after_repair,
            s.repair_rounds
        );
        outln!("mean LLM calls:        {:.2}", s.mean_llm_calls);
        outln!("mean time per question: {:.1} s", s.mean_seconds_per_question);
        if s.backend_errors > 0 {
            outln!("backend errors:        {}", s.backend_errors);
        }
        if !s.findings.is_empty() {
            let list: Vec<String> = s.findings.iter().map(|(k, v)| format!("{k} x{v}")).collect();
            outln!("findings:              {}", list.join(", "));
        }
    }
    Ok(if s.backend_errors == rows.len() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
