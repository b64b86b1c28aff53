//! Retrieval over subtitles and text: `retrieve_subtitles`, a hybrid of BM25
//! and all-MiniLM-L6-v2 sentence embeddings.
//!
//! - [`embed`]: the MiniLM sentence embedder (candle BERT, mean pooling, L2
//!   normalisation), loaded once per process.
//! - [`bm25`]: the BM25 index and its word tokeniser.
//! - [`cache`]: the per-video cache of cue embeddings (memory and disk).
//! - [`retrieve`]: the module and its score fusion.
//! - [`relevance`]: the same fusion over any lines of text (used by `choose`).

pub mod bm25;
pub mod cache;
pub mod embed;
pub mod relevance;
pub mod retrieve;

use std::sync::Arc;

use vprog_runtime::Registry;

use crate::model_store::ModelStore;

pub use retrieve::RetrieveSubtitles;

/// Registers this family's modules.
pub fn register(r: &mut Registry, store: &Arc<ModelStore>) {
    if let Err(e) = r.register(Arc::new(RetrieveSubtitles::new(store.clone()))) {
        tracing::error!(error = %e, "retrieval: module not registered");
    }
}
