//! Weights kept on disk in the form the CPU kernels run, so a new process
//! skips preparing them ([`crate::model`]'s requantization of Q5_0 matrices
//! to Q8_0 and their zero-padding to 256-column multiples: most of the load
//! time of Qwen2.5-Coder on 2 cores).
//!
//! One GGUF file per model under `llm-weights/`: the original's metadata, a
//! `vprog.prepared_from` key, and every tensor as the model holds it. The
//! file is named by [`crate::persist`]'s model key (the model file's path,
//! size and modification time, this crate's version and the CPU kernels),
//! so a changed model, build or CPU never reads another's weights. A file
//! that is unreadable, truncated, of another model or of the wrong shapes is
//! ignored with a warning and written again. Files are written whole under a
//! temporary name and renamed; the oldest beyond [`PREPARED_KEPT`] are
//! removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::QTensor;

use crate::gguf::GgufFile;
use crate::persist::{cache_root, model_key, prune};

/// Prepared weight files kept (one per model).
pub const PREPARED_KEPT: usize = 4;

/// The metadata key naming the model key a prepared file was made for.
const PREPARED_FROM: &str = "vprog.prepared_from";

/// Where one model's prepared weights are kept.
#[derive(Debug, Clone)]
pub struct PreparedStore {
    file: PathBuf,
    key: String,
}

impl PreparedStore {
    /// The store for the model file at `model_path`, under `root` (`None`
    /// when the file cannot be read: nothing is kept).
    pub fn for_model(root: &Path, model_path: &Path) -> Option<PreparedStore> {
        let key = model_key(model_path)?;
        Some(PreparedStore { file: root.join(format!("{key}.gguf")), key })
    }

    /// The default root: `llm-weights` under [`cache_root`].
    pub fn default_root() -> Option<PathBuf> {
        cache_root().map(|d| d.join("llm-weights"))
    }

    /// The prepared file (present or not).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether `f` was prepared for this store's model.
    pub(crate) fn check(&self, f: &GgufFile) -> Result<(), String> {
        match f.content.metadata.get(PREPARED_FROM) {
            Some(Value::String(key)) if *key == self.key => Ok(()),
            Some(Value::String(key)) => Err(format!("prepared from another model file ({key})")),
            _ => Err(format!("no `{PREPARED_FROM}` key: not a prepared file")),
        }
    }

    /// Keeps `tensors` with the original's `metadata` for later processes;
    /// best effort: a failure is logged, and the weights are prepared again
    /// next time.
    pub(crate) fn save(&self, metadata: &HashMap<String, Value>, tensors: &[(String, Arc<QTensor>)]) {
        if let Err(why) = self.write(metadata, tensors) {
            tracing::warn!(file = %self.file.display(), %why, "llm: cannot store prepared weights");
        }
    }

    fn write(&self, metadata: &HashMap<String, Value>, tensors: &[(String, Arc<QTensor>)]) -> Result<(), String> {
        let dir = self.file.parent().ok_or("no directory")?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let from = Value::String(self.key.clone());
        let mut meta: Vec<(&str, &Value)> =
            metadata.iter().filter(|(k, _)| k.as_str() != PREPARED_FROM).map(|(k, v)| (k.as_str(), v)).collect();
        meta.push((PREPARED_FROM, &from));
        let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, q)| (n.as_str(), q.as_ref())).collect();
        let tmp = self.file.with_extension(format!("tmp{}", std::process::id()));
        let written = (|| -> Result<(), String> {
            let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
            let mut w = std::io::BufWriter::new(file);
            candle_core::quantized::gguf_file::write(&mut w, &meta, &tensors).map_err(|e| e.to_string())?;
            let file = w.into_inner().map_err(|e| e.to_string())?;
            file.sync_all().map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &self.file).map_err(|e| e.to_string())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        prune(dir, "gguf", PREPARED_KEPT);
        Ok(())
    }
}
