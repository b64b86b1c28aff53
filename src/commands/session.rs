//! Shared by `ask`, `eval` and `calibrate`: the reasoning flags as settings,
//! and the session they start (the planner's backend and plugins wired in).

use std::sync::Arc;

use vprog_eval::session::step_cache;
use vprog_eval::Session;
use vprog_planner::fast_slow::{Mode, ReasonConfig, Strategy};
use vprog_planner::mcts::SearchConfig;
use vprog_planner::search::Budget;
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, Executor};

use crate::cli::{ReasonArgs, ReasonMode, SearchStrategy};

/// The reasoning settings of `args`; θ from `--theta`, `--calibration FILE`,
/// the stored calibration or the shipped one.
pub fn config(args: &ReasonArgs) -> anyhow::Result<ReasonConfig> {
    Ok(ReasonConfig {
        mode: mode(args.mode),
        theta: vprog_eval::theta::resolve(args.theta, "--theta", args.calibration.as_deref())?,
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

/// The planner's mode for the `--mode` flag.
pub fn mode(mode: ReasonMode) -> Mode {
    match mode {
        ReasonMode::Auto => Mode::Auto,
        ReasonMode::Fast => Mode::Fast,
        ReasonMode::Slow => Mode::Slow,
        ReasonMode::Compare => Mode::Compare,
    }
}

/// A session with the planner's language model and the plugins `args`
/// name; `config` is [`config`] of `args`.
pub fn session(args: &ReasonArgs, config: ReasonConfig, progress: bool) -> anyhow::Result<Session> {
    let (rt, planner) = super::llm::runtime_and_planner(&args.llm, &args.plugins)?;
    let cache = if args.no_shared_cache { Cache::disabled() } else { step_cache(args.steps.disk_cache()) };
    let executor = Executor::new(Arc::new(cache), ExecConfig { step_timeout: args.steps.step_timeout, progress, ..ExecConfig::default() });
    Ok(Session { rt, planner, executor, config })
}
