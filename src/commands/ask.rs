//! `vprog ask`: plan, search among programs by running them, vote, and write
//! a trace of the winning program with the whole search in it.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use vprog_grammar::print_program;
use vprog_planner::mcts::SearchConfig;
use vprog_planner::search::{run_samples, run_search, Budget, SearchOutcome};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, ExecError, Executor, RunInputs, RunOutcome};
use vprog_runtime::trace::{write_trace, TraceProgram};

use crate::cli::{AskArgs, SearchStrategy};

/// Memory budget of the step cache the rollouts share.
const MEMORY_CACHE_BYTES: usize = 2 << 30;

/// Sampling temperature of `--search sample` candidates after the first.
const SAMPLE_TEMPERATURE: f64 = 0.7;

pub fn run(args: AskArgs) -> anyhow::Result<ExitCode> {
    let video = vprog_modules::video::open_video(&args.question.video, args.question.subtitles.as_deref()).map_err(anyhow::Error::from)?;
    let question = super::llm::question(&args.question, &video)?;
    let registry = super::plugin::registry(&args.plugins)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let backend = rt.block_on(super::llm::backend(&args.llm))?;
    let planner = super::llm::planner(backend, registry, &args.llm);

    let cache = if args.no_shared_cache {
        Cache::disabled()
    } else {
        let disk = if args.no_cache { None } else { args.cache_dir.clone().or_else(Cache::default_dir) };
        Cache::new(disk, MEMORY_CACHE_BYTES)
    };
    let cache = Arc::new(cache);
    let search_exec =
        Executor::new(cache.clone(), ExecConfig { step_timeout: args.step_timeout, progress: false, ..ExecConfig::default() });
    let inputs = RunInputs {
        video: Some(video.clone()),
        question: Some(question.text.clone()),
        options: (!question.options.is_empty()).then(|| question.options.clone()),
    };
    let budget = Budget { llm_calls: args.max_llm_calls, executions: args.max_executions, wall: args.time_limit };
    let config = SearchConfig { iterations: args.iterations.max(1), ..SearchConfig::default() };
    let t0 = Instant::now();
    let outcome: SearchOutcome = match args.search {
        SearchStrategy::Mcts => rt.block_on(run_search(&planner, &question, search_exec, inputs.clone(), budget, config)),
        SearchStrategy::Sample => {
            rt.block_on(run_samples(&planner, &question, search_exec, inputs.clone(), budget, config, SAMPLE_TEMPERATURE))
        }
        SearchStrategy::Single => {
            let config = SearchConfig { iterations: 1, ..config };
            rt.block_on(run_samples(&planner, &question, search_exec, inputs.clone(), budget, config, 0.0))
        }
    };
    let search_secs = t0.elapsed().as_secs_f64();

    // The winning program once more, from the shared cache, for its trace.
    let final_exec = Executor::new(cache, ExecConfig { step_timeout: args.step_timeout, progress: !args.json, ..ExecConfig::default() });
    let (source, run_outcome, optimizer) = match outcome.program.as_deref().map(|p| (p, vprog_grammar::parse(p))) {
        Some((source, Ok(program))) => {
            let checked = vprog_runtime::check::check(&program, planner.registry());
            match checked.plan {
                Some(mut plan) => {
                    let optimizer = vprog_runtime::plan::optimize(&mut plan);
                    (source.to_string(), rt.block_on(final_exec.run(&plan, &inputs)), optimizer)
                }
                None => (source.to_string(), not_run("the chosen program no longer checks"), Vec::new()),
            }
        }
        _ => (String::new(), not_run(&no_program_reason(&outcome)), Vec::new()),
    };
    let planner_json = serde_json::json!({
        "backend": planner.backend().describe(),
        "question": question,
        "config": planner.config(),
        "constrained": planner.constrained(),
        "search": outcome,
        "search_seconds": search_secs,
    });
    let canonical = vprog_grammar::parse(&source).map(|p| print_program(&p)).unwrap_or_default();
    let trace_program =
        TraceProgram { file: None, source: &source, canonical: &canonical, optimizer: &optimizer, planner: Some(planner_json) };
    write_trace(&args.trace, &trace_program, &inputs, &run_outcome).context("cannot write the trace")?;

    if args.json {
        let json = serde_json::json!({
            "answer": run_outcome.result.as_ref().ok().map(|v| v.summary()),
            "program": outcome.program,
            "votes": outcome.votes,
            "spent": outcome.spent,
            "trace": args.trace,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print_summary(&outcome, &run_outcome, search_secs);
        eprintln!("trace: {}  (vprog trace show {0}; vprog report {0})", args.trace.display());
    }
    Ok(if run_outcome.result.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn not_run(reason: &str) -> RunOutcome {
    RunOutcome {
        result: Err(ExecError::NotRun(reason.to_string())),
        steps: Vec::new(),
        answer_step: None,
        supporting_steps: Vec::new(),
        wall: Default::default(),
    }
}

fn no_program_reason(outcome: &SearchOutcome) -> String {
    let errors: Vec<&str> = outcome.tree.rollouts.iter().filter_map(|r| r.error.as_deref()).collect();
    match errors.last() {
        Some(last) => format!("no program gave an answer in {} rollouts; the last failure: {}", outcome.tree.rollouts.len(), last.trim()),
        None => "the search ran no program (budget too small?)".to_string(),
    }
}

fn print_summary(outcome: &SearchOutcome, run: &RunOutcome, secs: f64) {
    match &run.result {
        Ok(v) => println!("{}", v.summary()),
        Err(e) => eprintln!("vprog: no answer: {e}"),
    }
    if let Some(p) = &outcome.program {
        eprintln!("program:\n{}", indent(p));
    }
    let votes: Vec<String> = outcome.votes.iter().take(5).map(|v| format!("{} ({:.2} from {})", v.answer, v.weight, v.rollouts)).collect();
    if !votes.is_empty() {
        eprintln!("votes: {}", votes.join("; "));
    }
    let s = &outcome.spent;
    eprintln!(
        "{} search: {} iterations, {} rollouts ({} invalid), {} LLM calls, {} module executions + {} cache hits, {:.1}s",
        outcome.strategy,
        outcome.tree.iterations,
        outcome.tree.rollouts.len(),
        s.invalid,
        s.llm_calls,
        s.executions,
        s.cached_steps,
        secs
    );
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}
