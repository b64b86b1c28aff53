//! Reading a GGUF file: its header, the model [`Config`] from its metadata and
//! its tensors, each checked for presence and shape.
//!
//! Every failure (an unreadable or truncated file, a missing metadata key, a
//! tensor that is absent or of the wrong shape) is a [`Error::BadModel`]
//! naming the file; nothing here panics on a damaged file.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::Error;
use candle_core::quantized::{gguf_file, QTensor};
use candle_core::Device;

/// The model families the loader knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Arch {
    /// `llama` (SmolLM2, Llama): no attention biases, interleaved RoPE (GGUF
    /// permutes Q/K rows for llama.cpp's `rope_i` layout).
    Llama,
    /// `qwen2`: biases on Q, K and V, NeoX (half-split) RoPE.
    Qwen2,
}

impl Arch {
    /// The GGUF metadata prefix (`general.architecture`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }
}

/// Hyper-parameters of a llama-family causal LM, from GGUF metadata.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    /// Which family.
    pub arch: Arch,
    /// Model width (`{arch}.embedding_length`).
    pub hidden: usize,
    /// Transformer blocks (`{arch}.block_count`).
    pub layers: usize,
    /// Query heads (`{arch}.attention.head_count`).
    pub heads: usize,
    /// Key/value heads (`{arch}.attention.head_count_kv`; GQA when fewer than `heads`).
    pub kv_heads: usize,
    /// Per-head width (`hidden / heads`).
    pub head_dim: usize,
    /// MLP inner width (`{arch}.feed_forward_length`).
    pub ffn: usize,
    /// Vocabulary size (rows of `token_embd.weight`).
    pub vocab: usize,
    /// RoPE base (`{arch}.rope.freq_base`, default 10000).
    pub rope_theta: f32,
    /// RMSNorm epsilon (`{arch}.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f64,
    /// Longest sequence the model was trained for (`{arch}.context_length`).
    pub context_length: usize,
}

/// An opened GGUF file: header and a reader for its tensors.
pub struct GgufFile {
    /// Where it is.
    pub path: PathBuf,
    /// Model id, for errors.
    pub model: String,
    /// Header: metadata and tensor table.
    pub content: gguf_file::Content,
    reader: BufReader<File>,
}

impl GgufFile {
    /// Opens `path` and reads its header.
    pub fn open(model: &str, path: &Path) -> Result<GgufFile, Error> {
        let bad = |reason: String| Error::BadModel { model: model.to_string(), path: path.to_path_buf(), reason };
        let file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| bad(format!("not a readable GGUF file: {e}")))?;
        Ok(GgufFile { path: path.to_path_buf(), model: model.to_string(), content, reader })
    }

    /// A [`Error::BadModel`] about this file.
    pub fn bad(&self, reason: impl Into<String>) -> Error {
        Error::BadModel { model: self.model.clone(), path: self.path.clone(), reason: reason.into() }
    }

    /// Metadata value `key`.
    pub fn meta(&self, key: &str) -> Result<&gguf_file::Value, Error> {
        self.content.metadata.get(key).ok_or_else(|| self.bad(format!("metadata key `{key}` is missing")))
    }

    /// An unsigned integer metadata value.
    pub fn meta_usize(&self, key: &str) -> Result<usize, Error> {
        let v = self.meta(key)?;
        let n = match v {
            gguf_file::Value::U64(n) => *n,
            gguf_file::Value::I64(n) if *n >= 0 => *n as u64,
            other => other.to_u32().map(u64::from).map_err(|e| self.bad(format!("metadata `{key}`: {e}")))?,
        };
        usize::try_from(n).map_err(|_| self.bad(format!("metadata `{key}` = {n} is too large")))
    }

    /// A float metadata value.
    pub fn meta_f64(&self, key: &str) -> Result<f64, Error> {
        match self.meta(key)? {
            gguf_file::Value::F64(x) => Ok(*x),
            other => other.to_f32().map(f64::from).map_err(|e| self.bad(format!("metadata `{key}`: {e}"))),
        }
    }

    /// A string metadata value.
    pub fn meta_str(&self, key: &str) -> Result<&str, Error> {
        self.meta(key)?.to_string().map(String::as_str).map_err(|e| self.bad(format!("metadata `{key}`: {e}")))
    }

    /// An array metadata value.
    pub fn meta_array(&self, key: &str) -> Result<&Vec<gguf_file::Value>, Error> {
        self.meta(key)?.to_vec().map_err(|e| self.bad(format!("metadata `{key}`: {e}")))
    }

    /// The model configuration, checked for consistency.
    pub fn config(&self) -> Result<Config, Error> {
        let arch = match self.meta_str("general.architecture")? {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            other => return Err(self.bad(format!("architecture `{other}` is not supported (llama and qwen2 are)"))),
        };
        let p = arch.name();
        let hidden = self.meta_usize(&format!("{p}.embedding_length"))?;
        let layers = self.meta_usize(&format!("{p}.block_count"))?;
        let heads = self.meta_usize(&format!("{p}.attention.head_count"))?;
        let kv_heads = self.meta_usize(&format!("{p}.attention.head_count_kv")).unwrap_or(heads);
        let ffn = self.meta_usize(&format!("{p}.feed_forward_length"))?;
        let rms_eps = self.meta_f64(&format!("{p}.attention.layer_norm_rms_epsilon"))?;
        let rope_theta = self.meta_f64(&format!("{p}.rope.freq_base")).unwrap_or(10_000.0) as f32;
        let context_length = self.meta_usize(&format!("{p}.context_length"))?;
        if heads == 0 || kv_heads == 0 || hidden == 0 || layers == 0 || hidden % heads != 0 || heads % kv_heads != 0 {
            return Err(
                self.bad(format!("inconsistent attention shape: hidden {hidden}, {heads} heads, {kv_heads} kv heads, {layers} layers"))
            );
        }
        let head_dim = hidden / heads;
        if head_dim % 2 != 0 {
            return Err(self.bad(format!("head width {head_dim} is odd: RoPE needs pairs")));
        }
        let vocab = match self.content.tensor_infos.get("token_embd.weight") {
            Some(info) => match info.shape.dims() {
                [v, h] if *h == hidden => *v,
                dims => return Err(self.bad(format!("token_embd.weight has shape {dims:?}, expected [vocab, {hidden}]"))),
            },
            None => return Err(self.bad("tensor `token_embd.weight` is missing")),
        };
        Ok(Config { arch, hidden, layers, heads, kv_heads, head_dim, ffn, vocab, rope_theta, rms_eps, context_length })
    }

    /// Whether tensor `name` is present.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// The stored shape of tensor `name`, if the file has it.
    pub fn tensor_dims(&self, name: &str) -> Option<&[usize]> {
        self.content.tensor_infos.get(name).map(|info| info.shape.dims())
    }

    /// Reads tensor `name`, which must have shape `dims` (candle order: rows first).
    pub fn tensor(&mut self, name: &str, dims: &[usize], device: &Device) -> Result<QTensor, Error> {
        let Some(info) = self.content.tensor_infos.get(name) else {
            return Err(self.bad(format!("tensor `{name}` is missing")));
        };
        if info.shape.dims() != dims {
            return Err(self.bad(format!("tensor `{name}` has shape {:?}, expected {dims:?}", info.shape.dims())));
        }
        let t = self.content.tensor(&mut self.reader, name, device);
        t.map_err(|e| self.bad(format!("tensor `{name}` cannot be read (truncated or damaged file?): {e}")))
    }
}
