//! Language-model modules on local GGUF models (SmolLM2, Qwen2.5): answer
//! selection by option likelihood (`choose`), greedy free text (`ask_llm`),
//! and the token-budgeted rendering of evidence they read
//! (`render_evidence`).
//!
//! The models themselves (GGUF reading, the forward pass, the tokenizer)
//! are the `vprog-llm` crate; this module wraps them as steps.
//!
//! - [`render`]: evidence as timestamped lines within a token budget.
//! - [`choose`], [`ask`]: the modules.
//!
//! Loaded models and tokenizers are cached per process, keyed by file and
//! device, so repeated calls do not reload; loading and inference run on the
//! blocking pool through [`StepContext::blocking`].

pub mod ask;
pub mod choose;
pub mod render;

use std::path::PathBuf;
use std::sync::Arc;

use vprog_runtime::{Device, Module, ModuleError, Registry, StepContext, Value};

use crate::model_store::{module_error, ModelStore};
pub use vprog_llm::{chatml, KvCache, Llm, LlmTokenizer, MODEL_FILE};

/// The model `choose` and `ask_llm` use unless told otherwise.
pub const DEFAULT_MODEL: &str = vprog_models::catalog::QWEN_CODER_05B;

/// Registers `choose`, `ask_llm` and `render_evidence`. A name already taken
/// is logged and skipped.
pub fn register(r: &mut Registry, store: &Arc<ModelStore>) {
    let modules: Vec<Arc<dyn Module>> = vec![
        Arc::new(choose::Choose::new(store.clone())),
        Arc::new(ask::AskLlm::new(store.clone())),
        Arc::new(render::RenderEvidence::new(store.clone())),
    ];
    for m in modules {
        if let Err(e) = r.register(m) {
            tracing::error!(error = %e, "llm: module not registered");
        }
    }
}

/// A language-model error as a module error: a model that is not installed
/// names the command that installs it, a damaged file is
/// [`ModuleError::BadModel`], and a prompt over the context length is an
/// invalid `evidence` argument.
pub fn llm_error(e: vprog_llm::Error) -> ModuleError {
    match e {
        vprog_llm::Error::BadModel { model, path, reason } => ModuleError::BadModel { model, path, reason },
        vprog_llm::Error::Store(e) => module_error(e),
        e @ vprog_llm::Error::NotLanguageModel { .. } => ModuleError::invalid("model", e.to_string()),
        e @ vprog_llm::Error::PromptTooLong { .. } => ModuleError::invalid("evidence", e.to_string()),
        vprog_llm::Error::Failed(msg) => ModuleError::Failed(msg),
    }
}

/// The GGUF file of language model `id` in `store` (MissingModel naming
/// `vprog models fetch ID` when it is not installed).
pub fn model_path(store: &ModelStore, id: &str) -> Result<PathBuf, ModuleError> {
    vprog_llm::model_path(store, id).map_err(|e| match e {
        vprog_llm::Error::Store(e) => crate::model_store::store_error(store, e),
        other => llm_error(other),
    })
}

fn candle_device(device: Device) -> Result<candle_core::Device, ModuleError> {
    match device {
        Device::Cpu => Ok(candle_core::Device::Cpu),
        Device::Cuda(i) => candle_core::Device::new_cuda(i).map_err(|e| ModuleError::Failed(format!("CUDA device {i}: {e}"))),
    }
}

/// The tokenizer of model `id` (read once per process).
pub async fn load_tokenizer(store: &ModelStore, id: &str, ctx: &StepContext) -> Result<Arc<LlmTokenizer>, ModuleError> {
    let path = model_path(store, id)?;
    let id = id.to_string();
    ctx.blocking(move || vprog_llm::shared_tokenizer(&id, &path).map_err(llm_error)).await
}

/// Model `id` with its tokenizer, on the step's device (loaded once per
/// process and device).
pub async fn load_llm(store: &ModelStore, id: &str, ctx: &StepContext) -> Result<Arc<Llm>, ModuleError> {
    let path = model_path(store, id)?;
    let device = ctx.device;
    let id = id.to_string();
    ctx.blocking(move || vprog_llm::shared_llm(&id, &path, &candle_device(device)?).map_err(llm_error)).await
}

/// The `evidence` argument, or an empty list.
pub fn evidence_arg(args: &vprog_runtime::Args) -> Value {
    args.get("evidence").cloned().unwrap_or_else(|| Value::List(Arc::new(Vec::new())))
}

/// The `model` argument.
pub fn model_arg(args: &vprog_runtime::Args) -> Result<String, ModuleError> {
    match args.get("model") {
        Some(Value::Text(s)) => Ok(s.to_string()),
        None => Ok(DEFAULT_MODEL.to_string()),
        Some(other) => Err(ModuleError::invalid("model", format!("expected Text, got {}", other.type_of()))),
    }
}

/// A whole-number argument in `min..=max`.
pub fn int_arg(args: &vprog_runtime::Args, name: &str, min: i64, max: i64) -> Result<usize, ModuleError> {
    let n = args.int(name)?;
    if n < min || n > max {
        return Err(ModuleError::invalid(name, format!("{n} is outside {min}..={max}")));
    }
    usize::try_from(n).map_err(|_| ModuleError::invalid(name, format!("{n} is negative")))
}
