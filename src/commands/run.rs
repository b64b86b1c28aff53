//! `vprog run`: check, plan, execute, trace.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use vprog_grammar::{print_program, Diagnostic};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, ExecError, Executor, RunInputs, RunOutcome};
use vprog_runtime::trace::{write_trace, TraceProgram};

use crate::cli::RunArgs;

/// Memory budget of the in-process step cache.
const MEMORY_CACHE_BYTES: usize = 2 << 30;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let source = super::read_source(&args.program)?;
    let file = args.program.display().to_string();
    let registry = super::plugin::registry(&args.plugins)?;
    let program = match super::parse(&source) {
        Ok(p) => p,
        Err(d) => {
            super::print_diagnostics(&file, &source, &d);
            return Ok(ExitCode::from(1));
        }
    };
    let checked = vprog_runtime::check::check(&program, &registry);
    if !checked.diagnostics.is_empty() {
        super::print_diagnostics(&file, &source, &checked.diagnostics);
    }
    let Some(mut plan) = checked.plan else {
        return Ok(ExitCode::from(1));
    };
    let optimizer = vprog_runtime::dataflow::optimize(&mut plan);

    let video = vprog_modules::video::open_video(&args.video, args.subtitles.as_deref()).map_err(anyhow::Error::from)?;
    let inputs = RunInputs { video: Some(video), question: args.question.clone(), options: args.options.clone() };
    let cache =
        if args.no_cache { Cache::disabled() } else { Cache::new(args.cache_dir.clone().or_else(Cache::default_dir), MEMORY_CACHE_BYTES) };
    let config = ExecConfig { step_timeout: args.step_timeout, progress: !args.json, ..ExecConfig::default() };
    let interrupt = config.interrupt.clone();
    let executor = Executor::new(Arc::new(cache), config);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    super::cancel_on_signals(&runtime, interrupt);
    let outcome = runtime.block_on(executor.run(&plan, &inputs));
    // Work a timeout or an interrupt stopped ends at its next check; the
    // process does not wait for it (dropping the runtime would).
    runtime.shutdown_background();

    let trace_dir = args.trace.clone().unwrap_or_else(|| default_trace_dir(&args.program));
    let canonical = print_program(&program);
    let trace_program =
        TraceProgram { file: Some(&file), source: &source, canonical: &canonical, optimizer: &optimizer, extensions: Default::default() };
    let writing = std::time::Instant::now();
    write_trace(&trace_dir, &trace_program, &inputs, &outcome).context("cannot write the trace")?;
    tracing::info!("trace written to {} in {:.2} s", trace_dir.display(), writing.elapsed().as_secs_f64());

    if args.json {
        crate::output::print_json(&json_summary(&outcome, &trace_dir))?;
    } else {
        print_human(&outcome);
        errln!("trace: {}  (vprog trace show {0}; vprog report {0})", trace_dir.display());
    }
    match &outcome.result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(ExecError::Interrupted) => {
            errln!("vprog: interrupted; the trace holds the steps finished before it");
            Ok(ExitCode::from(130))
        }
        Err(e) => {
            if !args.json {
                print_exec_error(&file, &source, e);
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn default_trace_dir(program: &std::path::Path) -> PathBuf {
    let stem = program.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "program".into());
    PathBuf::from("runs").join(stem)
}

fn print_human(outcome: &RunOutcome) {
    if let Ok(answer) = &outcome.result {
        outln!("{}", answer.summary());
    }
    let (mut computed, mut cached) = (0, 0);
    for s in &outcome.steps {
        match s.cache {
            vprog_runtime::cache::CacheStatus::Memory | vprog_runtime::cache::CacheStatus::Disk => cached += 1,
            _ if s.version.is_some() => computed += 1,
            _ => {}
        }
    }
    errln!(
        "{} step{} ({computed} computed, {cached} from cache) in {:.2}s",
        outcome.steps.len(),
        super::plural(outcome.steps.len()),
        outcome.wall.as_secs_f64()
    );
}

fn print_exec_error(file: &str, source: &str, e: &ExecError) {
    match e.span() {
        Some(span) => {
            let d = Diagnostic::error("vprog::step_failed", e.to_string(), span, format!("step {} failed here", e.step().unwrap_or("?")))
                .with_help(
                    "the trace records every step that ran before the failure; completed steps are cached, so a rerun resumes from them",
                );
            super::print_diagnostics(file, source, &[d]);
        }
        None => errln!("vprog: error: {e}"),
    }
}

fn json_summary(outcome: &RunOutcome, trace_dir: &std::path::Path) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = outcome
        .steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "module": s.op,
                "output": s.output.as_ref().map(|v| v.summary()),
                "cache": s.cache,
                "status": s.status,
                "ms": s.duration.as_secs_f64() * 1000.0,
                "error": s.error,
            })
        })
        .collect();
    let (status, answer, error) = match &outcome.result {
        Ok(v) => ("ok", Some(serde_json::json!({"type": v.type_of().to_string(), "summary": v.summary(), "value": v.to_json()})), None),
        Err(e) => ("failed", None, Some(serde_json::json!({"message": e.to_string(), "step": e.step()}))),
    };
    serde_json::json!({
        "status": status,
        "answer": answer,
        "error": error,
        "answer_step": outcome.answer_step,
        "supporting_steps": outcome.supporting_steps,
        "steps": steps,
        "wall_ms": outcome.wall.as_secs_f64() * 1000.0,
        "trace": trace_dir,
    })
}
