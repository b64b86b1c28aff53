//! Shared by `ask`, `eval` and `calibrate`: the reasoning settings (θ from
//! the flag, a stored calibration or the shipped one), and a session holding
//! the async runtime, the planner and one executor whose step cache every
//! path and question shares.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use vprog_planner::calibrate::Calibration;
use vprog_planner::mcts::SearchConfig;
use vprog_planner::prompt::Question;
use vprog_planner::reason::{final_run, reason, Mode, ReasonConfig, Reasoning, Strategy, Theta};
use vprog_planner::search::Budget;
use vprog_planner::Planner;
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, Executor, RunInputs, RunOutcome};
use vprog_runtime::trace::{write_trace, TraceProgram};
use vprog_runtime::value::VideoRef;

use crate::cli::{ReasonArgs, ReasonMode, SearchStrategy};

/// Memory budget of the step cache the paths and rollouts share.
const MEMORY_CACHE_BYTES: usize = 2 << 30;

/// The calibration shipped with vprog: `vprog calibrate` on the dev split
/// of the labelled set (`examples/bench/dev.jsonl`) with the default models
/// (`planner/calibration.json`).
pub const SHIPPED_CALIBRATION: &str = include_str!("../../planner/calibration.json");

/// Where `vprog calibrate` stores θ and `ask`/`eval` look for it:
/// `$VPROG_CALIBRATION`, else `<config dir>/vprog/calibration.json`.
pub fn calibration_path() -> Option<PathBuf> {
    std::env::var_os("VPROG_CALIBRATION")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("vprog").join("calibration.json")))
}

fn read_calibration(path: &Path) -> anyhow::Result<Calibration> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the calibration {}", path.display()))?;
    Calibration::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e} (recreate it with `vprog calibrate`)", path.display()))
}

/// θ as `args` asks: `--theta`, `--calibration FILE`, the stored
/// calibration, or the shipped one.
pub fn theta(args: &ReasonArgs) -> anyhow::Result<Theta> {
    if let Some(v) = args.theta {
        return Ok(Theta { value: v, source: "--theta".into() });
    }
    if let Some(path) = &args.calibration {
        let c = read_calibration(path)?;
        return Ok(Theta { value: c.theta, source: format!("calibration {}", path.display()) });
    }
    if let Some(path) = calibration_path().filter(|p| p.is_file()) {
        let c = read_calibration(&path)?;
        return Ok(Theta { value: c.theta, source: format!("calibration {}", path.display()) });
    }
    let c = Calibration::from_json(SHIPPED_CALIBRATION).map_err(|e| anyhow::anyhow!("the shipped calibration is damaged: {e}"))?;
    let bench = c.source.get("bench").and_then(serde_json::Value::as_str).unwrap_or("its labelled set");
    Ok(Theta { value: c.theta, source: format!("the calibration shipped with vprog ({bench})") })
}

/// The reasoning settings of `args`.
pub fn config(args: &ReasonArgs) -> anyhow::Result<ReasonConfig> {
    Ok(ReasonConfig {
        mode: match args.mode {
            ReasonMode::Auto => Mode::Auto,
            ReasonMode::Fast => Mode::Fast,
            ReasonMode::Slow => Mode::Slow,
            ReasonMode::Compare => Mode::Compare,
        },
        theta: theta(args)?,
        strategy: match args.search {
            SearchStrategy::Mcts => Strategy::Mcts,
            SearchStrategy::Sample => Strategy::Sample,
            SearchStrategy::Single => Strategy::Single,
        },
        search: SearchConfig { iterations: args.iterations.max(1), ..SearchConfig::default() },
        budget: Budget { llm_calls: args.max_llm_calls, executions: args.max_executions, wall: args.time_limit },
        param_variants: args.param_variants,
        fast_frames: args.fast_frames as usize,
        scan_fps: args.scan_fps,
        scan_frames: args.scan_frames as usize,
        answer_model: args.answer_model.clone(),
        ..ReasonConfig::default()
    })
}

/// The runtime, planner and shared executor of one command.
pub struct Session {
    /// The async runtime everything runs on.
    pub rt: tokio::runtime::Runtime,
    /// Writes the slow path's programs.
    pub planner: Planner,
    /// Runs every program; its cache is shared by all paths and questions.
    pub executor: Executor,
    /// The reasoning settings.
    pub config: ReasonConfig,
}

impl Session {
    /// Loads the planner's language model and the plugins `args` name;
    /// `config` is [`config`] of `args`.
    pub fn new(args: &ReasonArgs, config: ReasonConfig, progress: bool) -> anyhow::Result<Session> {
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
        let executor = Executor::new(Arc::new(cache), ExecConfig { step_timeout: args.step_timeout, progress, ..ExecConfig::default() });
        Ok(Session { rt, planner, executor, config })
    }

    /// Answers `question` about `video` and writes the trace of the program
    /// that answered, with the whole reasoning in it, to `trace`.
    pub fn answer(&self, video: Arc<VideoRef>, question: &Question, trace: &Path) -> anyhow::Result<(Reasoning, RunOutcome)> {
        let inputs = RunInputs {
            video: Some(video),
            question: Some(question.text.clone()),
            options: (!question.options.is_empty()).then(|| question.options.clone()),
        };
        let reasoning = self.rt.block_on(reason(&self.planner, question, &self.executor, &inputs, &self.config));
        let (source, run, optimizer) = self.rt.block_on(final_run(self.planner.registry(), &self.executor, &inputs, &reasoning));
        let planner_json = serde_json::json!({
            "backend": self.planner.backend().describe(),
            "question": question,
            "config": self.planner.config(),
            "constrained": self.planner.constrained(),
            "reasoning": reasoning,
            "reason_config": self.config,
            "search": reasoning.search,
            "search_seconds": reasoning.slow_seconds,
        });
        let canonical = vprog_grammar::parse(&source).map(|p| vprog_grammar::print_program(&p)).unwrap_or_default();
        let program =
            TraceProgram { file: None, source: &source, canonical: &canonical, optimizer: &optimizer, planner: Some(planner_json) };
        write_trace(trace, &program, &inputs, &run).context("cannot write the trace")?;
        Ok((reasoning, run))
    }
}
