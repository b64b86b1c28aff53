//! Prefilled prompt prefixes kept on disk between processes, so a new
//! process does not prefill the same long system prompt again (the planner's
//! is about 2,800 tokens: 29 s on 2 cores, against well under a second to
//! read back).
//!
//! A directory per model holds one safetensors file per prefix: the keys and
//! values of every block, and the prefix's tokens. The directory's name is a
//! hash of the model file's identity (path, size, modification time), this
//! crate's version and the CPU kernels in use, so a changed model or build
//! never reads another's numbers. The file's name is a hash of the tokens,
//! and the tokens inside are compared again on reading. A file that is
//! unreadable, of another shape or of other tokens is ignored (and replaced
//! on the next save): the prefix is computed as if it were absent. Files are
//! written whole under a temporary name and renamed; the oldest beyond
//! [`PREFIXES_KEPT`] are removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::model::{KvCache, Model};

/// Where this crate keeps files between processes: `$VPROG_LLM_CACHE_DIR`,
/// else `$VPROG_CACHE_DIR`, else `<user cache dir>/vprog`; `None` when none
/// exists. (Tests give each run its own step cache but share these.)
pub fn cache_root() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("VPROG_LLM_CACHE_DIR").or_else(|| var("VPROG_CACHE_DIR")).or_else(|| dirs::cache_dir().map(|d| d.join("vprog")))
}

/// A key naming what was computed from the model file at `model_path` by this
/// build on these CPU kernels: a hash of the file's path, size and
/// modification time, this crate's version and [`crate::model::kernel_tag`]
/// (`None` when the file cannot be read).
pub(crate) fn model_key(model_path: &Path) -> Option<String> {
    let meta = std::fs::metadata(model_path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    let path = std::fs::canonicalize(model_path).unwrap_or_else(|_| model_path.to_path_buf());
    let identity =
        format!("{}|{}|{mtime}|vprog-llm {}|{}", path.display(), meta.len(), env!("CARGO_PKG_VERSION"), crate::model::kernel_tag());
    Some(blake3::hash(identity.as_bytes()).to_hex()[..32].to_string())
}

/// Removes the least recently modified files with extension `ext` in `dir`
/// beyond `keep`.
pub(crate) fn prune(dir: &Path, ext: &str, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == ext))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort();
    let excess = files.len().saturating_sub(keep);
    for (_, path) in files.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}

/// Prefix files kept per model.
pub const PREFIXES_KEPT: usize = 8;

/// Where one model's prefixes are kept.
#[derive(Debug, Clone)]
pub struct PrefixStore {
    dir: PathBuf,
}

impl PrefixStore {
    /// The store for the model file at `model_path`, under `root`
    /// (`None` when the file cannot be read: nothing is kept).
    pub fn for_model(root: &Path, model_path: &Path) -> Option<PrefixStore> {
        Some(PrefixStore { dir: root.join(model_key(model_path)?) })
    }

    /// The default root: `llm-prefixes` under [`cache_root`].
    pub fn default_root() -> Option<PathBuf> {
        cache_root().map(|d| d.join("llm-prefixes"))
    }

    /// The directory of this model's prefixes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, tokens: &[u32]) -> PathBuf {
        let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
        let hash = blake3::hash(&bytes).to_hex();
        self.dir.join(format!("{}-{}.safetensors", &hash[..32], tokens.len()))
    }

    /// The keys and values of `tokens` for `model`, when a file holds them.
    pub fn load(&self, model: &Model, tokens: &[u32]) -> Option<KvCache> {
        let path = self.file(tokens);
        if !path.is_file() {
            return None;
        }
        match read(&path, model, tokens) {
            Ok(cache) => Some(cache),
            Err(why) => {
                tracing::warn!(file = %path.display(), %why, "llm: ignoring a stored prompt prefix");
                None
            }
        }
    }

    /// Keeps `cache` (the keys and values of `tokens`) for later processes;
    /// best effort: a failure is logged, and the prefix is computed next time.
    pub fn save(&self, tokens: &[u32], cache: &KvCache) {
        if let Err(why) = self.write(tokens, cache) {
            tracing::warn!(dir = %self.dir.display(), %why, "llm: cannot store a prompt prefix");
        }
    }

    fn write(&self, tokens: &[u32], cache: &KvCache) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (i, layer) in cache.layers().iter().enumerate() {
            let Some((k, v)) = layer else { return Err(format!("block {i} has no keys")) };
            tensors.insert(format!("k.{i}"), k.contiguous().map_err(|e| e.to_string())?);
            tensors.insert(format!("v.{i}"), v.contiguous().map_err(|e| e.to_string())?);
        }
        let ids = Tensor::new(tokens, &Device::Cpu).map_err(|e| e.to_string())?;
        tensors.insert("tokens".into(), ids);
        let path = self.file(tokens);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        candle_core::safetensors::save(&tensors, &tmp).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            e.to_string()
        })?;
        prune(&self.dir, "safetensors", PREFIXES_KEPT);
        Ok(())
    }
}

/// Reads a prefix file, checking it holds `tokens` and fits `model`.
fn read(path: &Path, model: &Model, tokens: &[u32]) -> Result<KvCache, String> {
    let device = model.device();
    let mut tensors = candle_core::safetensors::load(path, device).map_err(|e| e.to_string())?;
    let stored: Vec<u32> =
        tensors.remove("tokens").ok_or("no tokens")?.to_dtype(DType::U32).and_then(|t| t.to_vec1()).map_err(|e| e.to_string())?;
    if stored != tokens {
        return Err("it holds other tokens".into());
    }
    let cfg = &model.config;
    let want = [1, cfg.kv_heads, tokens.len(), cfg.head_dim];
    let mut layers = Vec::with_capacity(cfg.layers);
    for i in 0..cfg.layers {
        let mut take = |name: String| -> Result<Tensor, String> {
            let t = tensors.remove(&name).ok_or_else(|| format!("no `{name}`"))?;
            if t.dims() != want || t.dtype() != DType::F32 {
                return Err(format!("`{name}` is {:?} {:?}, expected {want:?} f32", t.dims(), t.dtype()));
            }
            Ok(t)
        };
        layers.push((take(format!("k.{i}"))?, take(format!("v.{i}"))?));
    }
    Ok(KvCache::from_layers(layers, tokens.len()))
}
