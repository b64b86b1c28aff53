//! Shared by `plan`, `ask` and `plan-eval`: the language-model backend, the
//! planner and the question.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use vprog_modules::model_store::ModelStore;
use vprog_planner::local::LocalBackend;
use vprog_planner::openai::{OpenAiBackend, OpenAiConfig};
use vprog_planner::prompt::{Question, VideoFacts};
use vprog_planner::{LlmBackend, Planner, PlannerConfig};
use vprog_runtime::value::VideoRef;
use vprog_runtime::Registry;

use crate::cli::{LlmArgs, QuestionArgs};

/// The backend `--llm` names.
pub async fn backend(args: &LlmArgs) -> anyhow::Result<Arc<dyn LlmBackend>> {
    let spec = args.llm.trim();
    if spec == "local" || spec.starts_with("local:") {
        let id = spec.strip_prefix("local:").map(str::to_string).or_else(|| args.model.clone());
        let id = id.unwrap_or_else(|| vprog_modules::llm::DEFAULT_MODEL.to_string());
        let store = ModelStore::from_env();
        let backend = LocalBackend::load(&store, &id).await.with_context(|| format!("cannot load the planner's language model `{id}`"))?;
        return Ok(Arc::new(backend));
    }
    if let Some(url) = spec.strip_prefix("openai:") {
        let Some(model) = args.model.clone() else {
            bail!("--llm openai:URL needs --model NAME (the model name the server serves)");
        };
        let mut config = OpenAiConfig::new(url, model);
        config.api_key = std::env::var(&args.api_key_env).ok().filter(|k| !k.trim().is_empty());
        config.api_key_env = Some(args.api_key_env.clone());
        config.timeout = args.llm_timeout;
        config.retries = args.llm_retries;
        return Ok(Arc::new(OpenAiBackend::new(config)?));
    }
    bail!("unknown --llm `{spec}`: use `local`, `local:MODEL_ID` or `openai:http://HOST:PORT/v1`")
}

/// A planner over `registry` with the settings of `args`.
pub fn planner(backend: Arc<dyn LlmBackend>, registry: Registry, args: &LlmArgs) -> Planner {
    let config = PlannerConfig {
        repair_rounds: args.repair_rounds,
        max_tokens: args.max_tokens,
        temperature: 0.0,
        seed: args.seed,
        constrained: !args.no_constraint,
    };
    Planner::new(backend, Arc::new(registry), config)
}

/// The question of `args`, about the opened `video`.
pub fn question(args: &QuestionArgs, video: &VideoRef) -> anyhow::Result<Question> {
    if args.question.trim().is_empty() {
        bail!("the question is empty");
    }
    let options = args.options.clone().unwrap_or_default();
    if options.iter().any(|o| o.trim().is_empty()) {
        bail!("an answer option is empty");
    }
    Ok(Question { text: args.question.clone(), options, video: VideoFacts::of(video) })
}
