//! Local language models on candle: the GGUF files the model store installs
//! (SmolLM2, Qwen2.5), run on CPU or CUDA.
//!
//! - [`gguf`]: the GGUF header, [`gguf::Config`] and checked tensor reads.
//! - [`model`]: the llama/qwen2 forward pass with a cloneable KV cache and a
//!   prefix cache, and the requantization of matrices candle has no fast
//!   kernel for.
//! - [`persist`]: prefilled prompt prefixes kept on disk between processes.
//! - [`prepared`]: weights kept on disk in the form the CPU kernels run.
//! - [`tokenizer`]: the byte-level BPE tokenizer built from GGUF metadata.
//!
//! [`shared_llm`] and [`shared_tokenizer`] load once per process, keyed by
//! file and device, so the `choose` and `ask_llm` modules and the planner of
//! the same process share one copy. Both block: call them from a blocking
//! thread.
//!
//! This crate knows nothing of modules, steps or the planner: those wrap
//! [`Error`] in their own error types.

pub mod gguf;
pub mod model;
pub mod persist;
pub mod prepared;
pub mod tokenizer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use vprog_models::catalog::Task;
use vprog_models::{ModelError, ModelStore};

/// The device a model runs on (candle's).
pub use candle_core::Device;
pub use model::{KvCache, Model, PrefixCache};
pub use tokenizer::LlmTokenizer;

/// The file a GGUF language model is installed as.
pub const MODEL_FILE: &str = "model.gguf";

/// What can go wrong loading or running a language model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file is unreadable, truncated or inconsistent.
    #[error("model `{model}` ({}) is damaged or unsupported: {reason}", path.display())]
    BadModel {
        /// Catalog id.
        model: String,
        /// The GGUF file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The model store could not provide the model (not installed, damaged,
    /// unknown id).
    #[error(transparent)]
    Store(#[from] ModelError),
    /// The id names a model of another kind.
    #[error("`{id}` is a {task} model, not a language model")]
    NotLanguageModel {
        /// Catalog id.
        id: String,
        /// Its task.
        task: Task,
    },
    /// The prompt does not fit the model's context.
    #[error("the prompt needs {needed} positions, more than the {max} this model runs")]
    PromptTooLong {
        /// Positions the prompt needs.
        needed: usize,
        /// The model's context length.
        max: usize,
    },
    /// Tokenizing or inference failed.
    #[error("{0}")]
    Failed(String),
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
    pub prefixes: PrefixCache,
    /// Where long stable prefixes (a system prompt) are kept between
    /// processes; `None` when there is no cache directory.
    pub prefix_store: Option<persist::PrefixStore>,
}

/// The GGUF file of language model `id` in `store`: [`Error::Store`] when it
/// is not installed or damaged, [`Error::NotLanguageModel`] when `id` is
/// another kind of model.
pub fn model_path(store: &ModelStore, id: &str) -> Result<PathBuf, Error> {
    let installed = store.locate(id)?;
    if installed.spec.task != Task::LanguageModel {
        return Err(Error::NotLanguageModel { id: id.to_string(), task: installed.spec.task });
    }
    Ok(installed.file(MODEL_FILE))
}

/// A once-per-key value: loading holds the slot's lock, so a second caller
/// for the same key waits for the first load instead of loading again. A
/// failed load leaves the slot empty.
type Slot<T> = Arc<Mutex<Option<Arc<T>>>>;

fn shared<T>(
    map: &'static OnceLock<Mutex<HashMap<String, Slot<T>>>>,
    key: String,
    load: impl FnOnce() -> Result<T, Error>,
) -> Result<Arc<T>, Error> {
    let slot = {
        let map = map.get_or_init(|| Mutex::new(HashMap::new()));
        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_default().clone()
    };
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = slot.as_ref() {
        return Ok(v.clone());
    }
    let v = Arc::new(load()?);
    *slot = Some(v.clone());
    Ok(v)
}

/// The tokenizer of the GGUF file at `path` (model `id`, for errors), read
/// once per process. Blocks.
pub fn shared_tokenizer(id: &str, path: &Path) -> Result<Arc<LlmTokenizer>, Error> {
    static TOKENIZERS: OnceLock<Mutex<HashMap<String, Slot<LlmTokenizer>>>> = OnceLock::new();
    shared(&TOKENIZERS, path.display().to_string(), || LlmTokenizer::from_gguf(&gguf::GgufFile::open(id, path)?))
}

/// Model `id` at `path` with its tokenizer, on `device`, loaded once per
/// process and device. Blocks (loading reads the whole file).
pub fn shared_llm(id: &str, path: &Path, device: &candle_core::Device) -> Result<Arc<Llm>, Error> {
    static MODELS: OnceLock<Mutex<HashMap<String, Slot<Llm>>>> = OnceLock::new();
    let tokenizer = shared_tokenizer(id, path)?;
    shared(&MODELS, format!("{}@{:?}", path.display(), device.location()), || {
        let t0 = std::time::Instant::now();
        let prepared = prepared::PreparedStore::default_root().and_then(|root| prepared::PreparedStore::for_model(&root, path));
        let model = match &prepared {
            Some(store) => Model::load_prepared(id, path, device, store)?,
            None => Model::load(id, path, device)?,
        };
        tracing::info!(model = id, seconds = t0.elapsed().as_secs_f64(), "llm: weights loaded");
        let prefix_store = persist::PrefixStore::default_root().and_then(|root| persist::PrefixStore::for_model(&root, path));
        Ok(Llm { id: id.to_string(), path: path.to_path_buf(), tokenizer, model, prefixes: PrefixCache::default(), prefix_store })
    })
}

/// A ChatML conversation (`<|im_start|>role\n...<|im_end|>\n`) ending with
/// the opened assistant turn, as both models' chat templates write it.
pub fn chatml(system: &str, user: &str) -> String {
    format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}
