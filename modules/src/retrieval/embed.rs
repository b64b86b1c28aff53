//! A MiniLM sentence embedder: all-MiniLM-L6-v2 as sentence-transformers runs it.
//!
//! The model is candle-transformers' BERT ([`BertModel`]) loaded from the
//! store's `model.safetensors` and `config.json`; text goes through the
//! store's `tokenizer.json` (BERT word pieces, lowercased) truncated at
//! [`MAX_SEQ_LEN`] word pieces (sentence-transformers' `max_seq_length` for
//! this model, `[CLS]` and `[SEP]` included). The token vectors of the last
//! layer are averaged over the real tokens (attention-mask-weighted mean
//! pooling) and the mean is L2-normalised, so the dot product of two
//! embeddings is their cosine similarity.
//!
//! Texts are embedded in batches of [`BATCH`], sorted by length first so that
//! a batch is padded only to its own longest text (as sentence-transformers
//! does); results come back in input order. A loaded model is kept for the
//! life of the process, one per model directory ([`Embedder::load`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};
use vprog_runtime::ModuleError;

use crate::model_store::{locate, ModelStore};

/// Longest input in word pieces, `[CLS]` and `[SEP]` included
/// (sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2).
pub const MAX_SEQ_LEN: usize = 256;

/// Texts per forward pass.
pub const BATCH: usize = 32;

/// A loaded sentence embedder.
pub struct Embedder {
    id: String,
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
    pad_id: u32,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("id", &self.id).field("dim", &self.dim).finish_non_exhaustive()
    }
}

/// Loaded models, by model directory.
fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<Embedder>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Embedder>>>> = OnceLock::new();
    LOADED.get_or_init(|| Mutex::new(HashMap::new()))
}

fn bad_model(id: &str, path: &Path, reason: impl std::fmt::Display) -> ModuleError {
    ModuleError::BadModel { model: id.to_string(), path: path.to_path_buf(), reason: reason.to_string() }
}

fn failed(what: &str, e: impl std::fmt::Display) -> ModuleError {
    ModuleError::Failed(format!("sentence embedding: {what}: {e}"))
}

impl Embedder {
    /// The embedder for model `id` of `store`, loaded on first use and then
    /// shared for the life of the process. Blocking (reads ~90 MB the first time).
    ///
    /// # Errors
    ///
    /// [`ModuleError::MissingModel`] naming `vprog models fetch ID` when the
    /// model is not installed; [`ModuleError::BadModel`] when a file of it
    /// cannot be read as a BERT model or tokenizer.
    pub fn load(store: &ModelStore, id: &str) -> Result<Arc<Embedder>, ModuleError> {
        let installed = locate(store, id)?;
        let mut cache = loaded().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = cache.get(&installed.dir) {
            return Ok(e.clone());
        }
        let embedder = Arc::new(Embedder::from_files(
            id,
            &installed.file("config.json"),
            &installed.file("tokenizer.json"),
            &installed.file("model.safetensors"),
        )?);
        cache.insert(installed.dir.clone(), embedder.clone());
        Ok(embedder)
    }

    /// Loads a BERT sentence embedder from its three files (no caching).
    ///
    /// # Errors
    ///
    /// [`ModuleError::BadModel`] naming the file that cannot be used.
    pub fn from_files(id: &str, config: &Path, tokenizer: &Path, weights: &Path) -> Result<Embedder, ModuleError> {
        let cfg_text = std::fs::read_to_string(config).map_err(|e| bad_model(id, config, format!("cannot read: {e}")))?;
        let cfg: Config = serde_json::from_str(&cfg_text).map_err(|e| bad_model(id, config, format!("not a BERT config: {e}")))?;
        let mut tok = Tokenizer::from_file(tokenizer).map_err(|e| bad_model(id, tokenizer, format!("not a tokenizer.json: {e}")))?;
        // The file pads every input to 128 and truncates at 128; the model was
        // trained (and is served by sentence-transformers) with 256 and no
        // padding beyond a batch's longest input, which `embed` does itself.
        tok.with_padding(None);
        tok.with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: MAX_SEQ_LEN.min(cfg.max_position_embeddings),
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| bad_model(id, tokenizer, format!("cannot set truncation: {e}")))?;
        let pad_id = tok.token_to_id("[PAD]").unwrap_or(cfg.pad_token_id as u32);
        let device = Device::Cpu;
        // Safe loading: the file is read into memory (not memory-mapped).
        let vb = VarBuilder::from_buffered_safetensors(
            std::fs::read(weights).map_err(|e| bad_model(id, weights, format!("cannot read: {e}")))?,
            DType::F32,
            &device,
        )
        .map_err(|e| bad_model(id, weights, format!("not a safetensors file: {e}")))?;
        let model = BertModel::load(vb, &cfg).map_err(|e| bad_model(id, weights, format!("not a BERT checkpoint: {e}")))?;
        Ok(Embedder { id: id.to_string(), model, tokenizer: tok, dim: cfg.hidden_size, pad_id })
    }

    /// The model id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Length of an embedding (384 for MiniLM).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Word-piece ids of `text` as the model sees it (`[CLS] ... [SEP]`,
    /// truncated at [`MAX_SEQ_LEN`]).
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when the tokenizer fails.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, ModuleError> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| failed("tokenizing", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Unit-length embeddings of `texts`, in input order. Blocking and
    /// CPU-heavy: call it on the blocking pool. An empty text embeds as
    /// `[CLS] [SEP]` (a valid, if uninformative, vector).
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when tokenizing or a tensor operation fails.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModuleError> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.token_ids(t)).collect::<Result<_, _>>()?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        // Longest first, as sentence-transformers does: similar lengths share
        // a batch, so little compute goes to padding.
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![Vec::new(); ids.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let vectors = self.forward(&batch)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One padded batch through BERT, mean pooling and normalisation.
    fn forward(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>, ModuleError> {
        let b = batch.len();
        let len = batch.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut input = Vec::with_capacity(b * len);
        let mut mask = Vec::with_capacity(b * len);
        for seq in batch {
            input.extend_from_slice(seq);
            input.extend(std::iter::repeat_n(self.pad_id, len - seq.len()));
            mask.extend(std::iter::repeat_n(1u32, seq.len()));
            mask.extend(std::iter::repeat_n(0u32, len - seq.len()));
        }
        let t = |what: &str, e: candle_core::Error| failed(what, e);
        let device = &self.model.device;
        let input = Tensor::from_vec(input, (b, len), device).map_err(|e| t("input", e))?;
        let mask = Tensor::from_vec(mask, (b, len), device).map_err(|e| t("mask", e))?;
        let types = input.zeros_like().map_err(|e| t("token types", e))?;
        let hidden = self.model.forward(&input, &types, Some(&mask)).map_err(|e| t("BERT forward pass", e))?;
        let pooled = mean_pool_normalise(&hidden, &mask).map_err(|e| t("pooling", e))?;
        pooled.to_vec2::<f32>().map_err(|e| t("output", e))
    }
}

/// Attention-mask-weighted mean of `hidden` `(b, len, d)` over `len`, then
/// divided by its L2 norm (at least 1e-12, as `torch.nn.functional.normalize`).
fn mean_pool_normalise(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norm)
}

/// Dot product (the cosine of two unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
