//! Opening the backend that a `--llm` setting names: `local` (the default
//! GGUF model), `local:MODEL_ID`, or `openai:URL` for an OpenAI-compatible
//! server.

use std::sync::Arc;
use std::time::Duration;

use vprog_models::ModelStore;

use crate::backend::{LlmBackend, LlmError};
use crate::local::LocalBackend;
use crate::openai::{OpenAiBackend, OpenAiConfig};

/// The local model used when none is named.
pub const DEFAULT_LOCAL_MODEL: &str = vprog_models::catalog::QWEN_CODER_05B;

/// Everything besides the backend's name.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The local model id (`local` alone), or the model name sent to a server
    /// (required for `openai:`).
    pub model: Option<String>,
    /// The environment variable holding a server's API key; unset or empty
    /// sends no key.
    pub api_key_env: String,
    /// Longest one request to a server may take.
    pub timeout: Duration,
    /// Retries of a failed server request.
    pub retries: u32,
}

/// The backend `spec` names, loaded (a local model, from `store`) or
/// configured (a server; nothing is sent until the first request).
pub async fn connect(spec: &str, options: &ConnectOptions, store: &ModelStore) -> Result<Arc<dyn LlmBackend>, LlmError> {
    let spec = spec.trim();
    if spec == "local" || spec.starts_with("local:") {
        let id = spec.strip_prefix("local:").map(str::to_string).or_else(|| options.model.clone());
        let id = id.unwrap_or_else(|| DEFAULT_LOCAL_MODEL.to_string());
        let backend = LocalBackend::load(store, &id).await.map_err(|e| {
            LlmError::Model(format!(
                "cannot load the planner's language model `{id}`: {}",
                e.to_string().trim_start_matches("local language model: ")
            ))
        })?;
        return Ok(Arc::new(backend));
    }
    if let Some(url) = spec.strip_prefix("openai:") {
        let Some(model) = options.model.clone() else {
            return Err(LlmError::Invalid("--llm openai:URL needs --model NAME (the model name the server serves)".into()));
        };
        let mut config = OpenAiConfig::new(url, model);
        config.api_key = std::env::var(&options.api_key_env).ok().filter(|k| !k.trim().is_empty());
        config.api_key_env = Some(options.api_key_env.clone());
        config.timeout = options.timeout;
        config.retries = options.retries;
        return Ok(Arc::new(OpenAiBackend::new(config)?));
    }
    Err(LlmError::Invalid(format!("unknown --llm `{spec}`: use `local`, `local:MODEL_ID` or `openai:http://HOST:PORT/v1`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(model: Option<&str>) -> ConnectOptions {
        ConnectOptions {
            model: model.map(str::to_string),
            api_key_env: "VPROG_TEST_NO_SUCH_KEY".into(),
            timeout: Duration::from_secs(1),
            retries: 0,
        }
    }

    #[tokio::test]
    async fn specs_are_parsed_and_bad_ones_named() {
        let store = ModelStore::at(std::env::temp_dir().join("vprog-connect-test-empty-store"));
        let e = connect("gpt", &options(None), &store).await.err().expect("unknown backend");
        assert!(e.to_string().contains("unknown --llm `gpt`"), "{e}");
        let e = connect("openai:http://127.0.0.1:9/v1", &options(None), &store).await.err().expect("no model name");
        assert!(e.to_string().contains("needs --model NAME"), "{e}");
        let b = connect("openai:http://127.0.0.1:9/v1", &options(Some("qwen")), &store).await.expect("configured, nothing sent");
        assert!(b.describe().contains("127.0.0.1:9"), "{}", b.describe());
        let e = connect("local:qwen2.5-coder-0.5b-instruct", &options(None), &store).await.err().expect("not installed");
        assert!(e.to_string().contains("vprog models fetch qwen2.5-coder-0.5b-instruct"), "{e}");
    }
}
