//! Language-model modules on local GGUF models (SmolLM2, Qwen2.5): answer
//! selection by option likelihood (`choose`), greedy free text (`ask_llm`),
//! and the token-budgeted rendering of evidence they read
//! (`render_evidence`).
//!
//! - [`gguf`]: the GGUF header, [`gguf::Config`] and checked tensor reads.
//! - [`model`]: the llama/qwen2 forward pass with a cloneable KV cache.
//! - [`tokenizer`]: the byte-level BPE tokenizer built from GGUF metadata.
//! - [`render`]: evidence as timestamped lines within a token budget.
//! - [`choose`], [`ask`]: the modules.
//!
//! Loaded models and tokenizers are cached per process, keyed by file and
//! device, so repeated calls do not reload; loading and inference run on the
//! blocking pool through [`StepContext::blocking`].

pub mod ask;
pub mod choose;
pub mod gguf;
pub mod model;
pub mod render;
pub mod tokenizer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::OnceCell;
use vprog_models::catalog::Task;
use vprog_runtime::{Device, Module, ModuleError, Registry, StepContext, Value};

use crate::model_store::{locate, ModelStore};
use gguf::GgufFile;
use model::Model;
use tokenizer::LlmTokenizer;

/// The model `choose` and `ask_llm` use unless told otherwise.
pub const DEFAULT_MODEL: &str = vprog_models::catalog::QWEN_CODER_05B;

/// The file a GGUF language model is installed as.
pub const MODEL_FILE: &str = "model.gguf";

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

/// A loaded language model with its tokenizer.
pub struct Llm {
    /// Catalog id.
    pub id: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// Its tokenizer.
    pub tokenizer: Arc<LlmTokenizer>,
    /// Its weights.
    pub model: Model,
    /// KV caches of recent prompts, reused for shared prefixes.
    pub prefixes: model::PrefixCache,
}

type Slot<T> = Arc<OnceCell<Arc<T>>>;

fn slot<T>(map: &'static OnceLock<Mutex<HashMap<String, Slot<T>>>>, key: String) -> Slot<T> {
    let map = map.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(key).or_default().clone()
}

/// The GGUF file of language model `id` in `store` (MissingModel naming
/// `vprog models fetch ID` when it is not installed).
pub fn model_path(store: &ModelStore, id: &str) -> Result<PathBuf, ModuleError> {
    let installed = locate(store, id)?;
    if installed.spec.task != Task::LanguageModel {
        return Err(ModuleError::invalid("model", format!("`{id}` is a {} model, not a language model", installed.spec.task)));
    }
    Ok(installed.file(MODEL_FILE))
}

fn candle_device(device: Device) -> Result<candle_core::Device, ModuleError> {
    match device {
        Device::Cpu => Ok(candle_core::Device::Cpu),
        Device::Cuda(i) => candle_core::Device::new_cuda(i).map_err(|e| ModuleError::Failed(format!("CUDA device {i}: {e}"))),
    }
}

/// The tokenizer of model `id` (cached per process).
pub async fn load_tokenizer(store: &ModelStore, id: &str, ctx: &StepContext) -> Result<Arc<LlmTokenizer>, ModuleError> {
    static TOKENIZERS: OnceLock<Mutex<HashMap<String, Slot<LlmTokenizer>>>> = OnceLock::new();
    let path = model_path(store, id)?;
    let cell = slot(&TOKENIZERS, path.display().to_string());
    let id = id.to_string();
    cell.get_or_try_init(|| async {
        ctx.blocking(move || {
            let f = GgufFile::open(&id, &path)?;
            Ok(Arc::new(LlmTokenizer::from_gguf(&f)?))
        })
        .await
    })
    .await
    .cloned()
}

/// Model `id` with its tokenizer, on the step's device (cached per process).
pub async fn load_llm(store: &ModelStore, id: &str, ctx: &StepContext) -> Result<Arc<Llm>, ModuleError> {
    static MODELS: OnceLock<Mutex<HashMap<String, Slot<Llm>>>> = OnceLock::new();
    let path = model_path(store, id)?;
    let tokenizer = load_tokenizer(store, id, ctx).await?;
    let cell = slot(&MODELS, format!("{}@{:?}", path.display(), ctx.device));
    let device = ctx.device;
    let id = id.to_string();
    cell.get_or_try_init(|| async {
        ctx.blocking(move || {
            let device = candle_device(device)?;
            let model = Model::load(&id, &path, &device)?;
            Ok(Arc::new(Llm { id, path, tokenizer, model, prefixes: Default::default() }))
        })
        .await
    })
    .await
    .cloned()
}

/// A ChatML conversation (`<|im_start|>role\n...<|im_end|>\n`) ending with
/// the opened assistant turn, as both models' chat templates write it.
pub fn chatml(system: &str, user: &str) -> String {
    format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
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
