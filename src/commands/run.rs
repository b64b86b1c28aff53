//! `vprog run`: check, plan, execute, trace.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use vprog_grammar::print_program;
use vprog_runtime::exec::{ExecConfig, ExecError, Executor, RunInputs, RunOutcome};
use vprog_runtime::trace::{write_trace, TraceProgram};

use crate::cli::RunArgs;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let source = super::read_source(&args.program)?;
    let file = args.program.display().to_string();
    let registry = super::plugin::registry(&args.plugins)?;
    let checked = vprog_runtime::check::check_source(&source, &registry);
    super::print_diagnostics(&file, &source, &checked.diagnostics);
    let (Some(program), Some(mut plan)) = (checked.program, checked.plan) else {
        return Ok(ExitCode::from(1));
    };
    let optimizer = vprog_runtime::dataflow::optimize(&mut plan);

    let video = vprog_modules::video::open_video(&args.video, args.subtitles.as_deref()).map_err(anyhow::Error::from)?;
    let inputs = RunInputs { video: Some(video), question: args.question.clone(), options: args.options.clone() };
    let cache = vprog_eval::session::step_cache(args.steps.disk_cache());
    let config = ExecConfig { step_timeout: args.steps.step_timeout, progress: !args.json, ..ExecConfig::default() };
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
        crate::output::print_json(&outcome.summary_json(&trace_dir))?;
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
                match e.to_diagnostic() {
                    Some(d) => super::print_diagnostics(&file, &source, &[d]),
                    None => errln!("vprog: error: {e}"),
                }
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
    let (computed, cached) = outcome.computed_and_cached();
    let n = outcome.steps.len();
    errln!("{n} step{} ({computed} computed, {cached} from cache) in {:.2}s", if n == 1 { "" } else { "s" }, outcome.wall.as_secs_f64());
}
