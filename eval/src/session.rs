//! A reasoning session: the async runtime, the planner and one executor
//! whose step cache every path and question shares. `vprog ask`, `eval` and
//! `calibrate` each run one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vprog_planner::fast_slow::{final_run, reason, ReasonConfig, Reasoning};
use vprog_planner::prompt::{Question, VideoFacts};
use vprog_planner::record::{self, PlannerRecord};
use vprog_planner::Planner;
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{Executor, RunInputs, RunOutcome};
use vprog_runtime::trace::{write_trace, TraceProgram};
use vprog_runtime::value::VideoRef;

use crate::Error;

/// Memory budget of the step cache the paths and rollouts share.
pub const MEMORY_CACHE_BYTES: usize = 2 << 30;

/// The step cache of a session: [`MEMORY_CACHE_BYTES`] in memory, and on
/// disk in `disk` when given.
pub fn step_cache(disk: Option<PathBuf>) -> Cache {
    Cache::new(disk, MEMORY_CACHE_BYTES)
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
    /// Answers `question` about `video` and writes the trace of the program
    /// that answered, with the whole reasoning in it, to `trace`.
    pub fn answer(&self, video: Arc<VideoRef>, question: &Question, trace: &Path) -> Result<(Reasoning, RunOutcome), Error> {
        let inputs = RunInputs {
            video: Some(video),
            question: Some(question.text.clone()),
            options: (!question.options.is_empty()).then(|| question.options.clone()),
        };
        let reasoning = self.rt.block_on(reason(&self.planner, question, &self.executor, &inputs, &self.config));
        let (source, run, optimizer) = self.rt.block_on(final_run(self.planner.registry(), &self.executor, &inputs, &reasoning));
        let record = PlannerRecord::new(&self.planner, question, &reasoning, &self.config);
        let extensions = [(record::KEY.to_string(), record.to_json())].into_iter().collect();
        let canonical = vprog_grammar::parse(&source).map(|p| vprog_grammar::print_program(&p)).unwrap_or_default();
        let program = TraceProgram { file: None, source: &source, canonical: &canonical, optimizer: &optimizer, extensions };
        write_trace(trace, &program, &inputs, &run).map_err(|e| Error::Trace(e.to_string()))?;
        Ok((reasoning, run))
    }

    /// Opens the video at `path` and answers `question` (with `options`)
    /// about it, as [`Session::answer`].
    pub fn answer_file(&self, path: &Path, question: &str, options: &[String], trace: &Path) -> Result<Reasoning, String> {
        let video = vprog_modules::video::open_video(path, None).map_err(|e| crate::error_chain(&e))?;
        let question = Question { text: question.to_string(), options: options.to_vec(), video: VideoFacts::of(&video) };
        let (reasoning, _) = self.answer(Arc::clone(&video), &question, trace).map_err(|e| crate::error_chain(&e))?;
        Ok(reasoning)
    }
}
