//! Shared by `plan`, `ask` and `plan-eval`: the language-model backend, the
//! planner and the question.

use std::sync::Arc;

use vprog_models::ModelStore;
use vprog_planner::connect::{connect, ConnectOptions};
use vprog_planner::prompt::{Question, VideoFacts};
use vprog_planner::{LlmBackend, Planner, PlannerConfig};
use vprog_runtime::value::VideoRef;

use anyhow::Context as _;

use crate::cli::{LlmArgs, PluginArgs, QuestionArgs};

/// The backend `--llm` names.
async fn backend(args: &LlmArgs) -> anyhow::Result<Arc<dyn LlmBackend>> {
    let options = ConnectOptions {
        model: args.model.clone(),
        api_key_env: args.api_key_env.clone(),
        timeout: args.llm_timeout,
        retries: args.llm_retries,
    };
    Ok(connect(&args.llm, &options, &ModelStore::from_env()).await?)
}

/// An async runtime, and on it a planner with the backend and settings of
/// `llm` over the built-in modules and the plugins of `plugins`.
pub fn runtime_and_planner(llm: &LlmArgs, plugins: &PluginArgs) -> anyhow::Result<(tokio::runtime::Runtime, Planner)> {
    let registry = super::plugin::registry(plugins)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let backend = rt.block_on(backend(llm))?;
    let config = PlannerConfig {
        repair_rounds: llm.repair_rounds,
        max_tokens: llm.max_tokens,
        seed: llm.seed,
        constrained: !llm.no_constraint,
        revision_rounds: llm.revision_rounds,
        kind_example: !llm.no_kind_example,
        ..PlannerConfig::default()
    };
    Ok((rt, Planner::new(backend, Arc::new(registry), config)))
}

/// The question of `args`, about the opened `video`.
pub fn question(args: &QuestionArgs, video: &VideoRef) -> anyhow::Result<Question> {
    Ok(Question::asked(args.question.clone(), args.options.clone().unwrap_or_default(), VideoFacts::of(video))?)
}
