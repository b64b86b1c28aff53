//! `vprog eval` (a labelled multiple-choice set, resumable and shardable),
//! `vprog eval-summary` (merging shards) and `vprog calibrate` (choosing θ).
//! The harness is the `vprog-eval` crate; this wires flags to it, shows
//! progress and prints.

use std::process::ExitCode;

use vprog_eval::summary::{summarise, write_summary, Summary};
use vprog_eval::{run_set, ItemResult, Progress, RunSpec};
use vprog_planner::calibrate::CostBudget;

use super::session::{config, mode, session};
use crate::cli::{CalibrateArgs, EvalArgs, EvalSummaryArgs, ReasonArgs, ReasonMode};

/// Runs (or resumes) `set` into `out`, with a progress bar.
fn run(
    set: &std::path::Path,
    videos: &std::path::Path,
    out: &std::path::Path,
    shard: Option<(usize, usize)>,
    limit: Option<usize>,
    reason: &ReasonArgs,
) -> anyhow::Result<Vec<ItemResult>> {
    let config = config(reason)?;
    let spec = RunSpec {
        set: set.to_path_buf(),
        videos: videos.to_path_buf(),
        out: out.to_path_buf(),
        shard,
        limit,
        mode: config.mode.as_str().into(),
        settings: serde_json::json!({
            "llm": reason.llm.llm, "model": reason.llm.model, "seed": reason.llm.seed, "theta": config.theta,
            "search": format!("{:?}", reason.search).to_lowercase(), "iterations": reason.iterations,
            "max_llm_calls": reason.max_llm_calls, "param_variants": reason.param_variants,
            "fast_frames": reason.fast_frames, "scan_fps": reason.scan_fps, "scan_frames": reason.scan_frames, "answer_model": reason.answer_model,
        }),
    };
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut on_progress = |p: Progress<'_>| match p {
        Progress::Resumed { done, total } => errln!("eval: resuming {}: {done} of {total} items already done", out.display()),
        Progress::Started { item, position, total } => {
            let bar = bar.get_or_insert_with(|| {
                let bar = indicatif::ProgressBar::new(total as u64).with_position(position as u64 - 1);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta}]")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
            bar.set_message(item.id.clone());
        }
        Progress::Finished { position, total, result } => {
            let line = format!(
                "[{position}/{total}] {} {} {} ({:.2}) {:.1}s",
                result.id,
                result.path.map_or("error", |p| p.as_str()),
                if result.correct { "right" } else { "wrong" },
                result.confidence,
                result.seconds
            );
            match &bar {
                Some(bar) if !bar.is_hidden() => {
                    bar.println(line);
                    bar.set_position(position as u64);
                }
                _ => errln!("{line}"),
            }
        }
    };
    let results = run_set(
        &spec,
        || session(reason, config.clone(), false).map_err(|e| vprog_eval::Error::Session(crate::output::chain(&e))),
        &mut on_progress,
    );
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(results?)
}
fn print_summary(s: &Summary) {
    s.report_lines().iter().for_each(|l| outln!("{l}"));
}

pub fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let results = run(&args.bench, &args.videos, &args.out, args.shard, args.limit, &args.reason)?;
    let title = format!("vprog eval: {} ({})", args.bench.display(), mode(args.reason.mode).as_str());
    let s = write_summary(&args.out, &results, &title)?;
    print_summary(&s);
    errln!("results: {}  (summary.md, summary.json, items/<id>/ traces)", args.out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn summary(args: EvalSummaryArgs) -> anyhow::Result<ExitCode> {
    let results = vprog_eval::run::merge(&args.dirs)?;
    let s = match &args.out {
        Some(out) => write_summary(out, &results, "vprog eval (merged)")?,
        None => summarise(&results),
    };
    print_summary(&s);
    Ok(ExitCode::SUCCESS)
}

pub fn calibrate_cmd(args: CalibrateArgs) -> anyhow::Result<ExitCode> {
    let mut reason = args.reason.clone();
    reason.mode = ReasonMode::Compare;
    let results = run(&args.bench, &args.videos, &args.out, None, args.limit, &reason)?;
    let title = format!("vprog calibrate: {} (both paths)", args.bench.display());
    write_summary(&args.out, &results, &title)?;
    let budget = CostBudget { mean_seconds: args.max_seconds, mean_llm_calls: args.max_llm_calls_per_question };
    let settings = serde_json::json!({
        "bench": args.bench.display().to_string(),
        "llm": reason.llm.llm,
        "answer_model": reason.answer_model,
        "search": format!("{:?}", reason.search).to_lowercase(),
        "iterations": reason.iterations,
        "seed": reason.llm.seed,
    });
    let (c, store) = vprog_eval::theta::calibrate_run(&results, budget, settings, &args.out, args.store.clone())?;
    c.report_lines().iter().for_each(|l| outln!("{l}"));
    errln!("stored: {} (vprog ask and eval read it; --theta overrides)", store.display());
    Ok(ExitCode::SUCCESS)
}
