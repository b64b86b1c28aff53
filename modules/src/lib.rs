//! Built-in vprog modules.
//!
//! - [`video`]: opening and probing videos, sampling frames (by rate, count,
//!   timestamps or scene changes) and cutting clips, on the system FFmpeg.
//! - [`subtitles`]: sidecar and embedded subtitles as timed text.
//! - [`retrieval`]: hybrid BM25 + MiniLM retrieval over subtitles and text.
//! - [`speech`]: speech recognition with Whisper.
//! - [`vision`]: OCR (Tesseract), people and face detection (OpenCV), tracking.
//! - [`llm`]: answer selection and free text with a local GGUF language model,
//!   and the rendering of evidence into a token-budgeted context.
//! - [`symbolic`]: counting, filtering, temporal relations, selection and the
//!   operators of the language.

pub mod llm;
pub mod model_store;
pub mod retrieval;
pub mod speech;
pub mod subtitles;
pub mod symbolic;
pub mod video;
pub mod vision;

use std::sync::Arc;

use vprog_runtime::Registry;

pub use model_store::ModelStore;

/// A registry holding every built-in module, with models from the store at
/// `$VPROG_MODELS` (or the user's cache dir).
pub fn registry() -> Registry {
    registry_with(Arc::new(ModelStore::from_env()))
}

/// A registry holding every built-in module, with models from `store`.
pub fn registry_with(store: Arc<ModelStore>) -> Registry {
    let mut r = Registry::new();
    video::register(&mut r);
    subtitles::register(&mut r);
    retrieval::register(&mut r, &store);
    speech::register(&mut r, &store);
    vision::register(&mut r, &store);
    llm::register(&mut r, &store);
    symbolic::register(&mut r);
    r
}
