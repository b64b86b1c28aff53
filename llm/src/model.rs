//! A llama-family causal language model (`llama`, `qwen2`) on quantized GGUF
//! weights: RMSNorm, RoPE, grouped-query attention with a causal mask, SwiGLU
//! MLP, and a KV cache that clones cheaply (candle tensors share their
//! storage), so a shared prompt prefix is computed once and every continuation
//! starts from a copy of its cache.
//!
//! [`Model::forward`] runs a chunk of tokens after what the cache holds and
//! returns the logits of **every** position of the chunk (`[chunk, vocab]`),
//! which is what scoring an option's tokens in one pass needs.

use std::path::Path;
use std::sync::Arc;

use crate::Error;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};

use crate::gguf::{Arch, Config, GgufFile};
use crate::prepared::PreparedStore;

/// A candle error as an inference failure.
pub fn candle_err(e: candle_core::Error) -> Error {
    Error::Failed(format!("language model inference failed: {e}"))
}

type Result<T> = std::result::Result<T, Error>;

/// One transformer block.
struct Block {
    attn_norm: Tensor,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    /// Q, K, V biases (qwen2 only).
    bias: Option<(Tensor, Tensor, Tensor)>,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// Keys and values of every block for the positions seen so far. Cloning is
/// cheap (reference-counted tensors); appending makes new tensors, so a clone
/// taken before is never changed.
#[derive(Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each block's keys and values, `[1, kv_heads, len, head_dim]` each
    /// (`None` for a block not run yet).
    pub fn layers(&self) -> &[Option<(Tensor, Tensor)>] {
        &self.layers
    }

    /// A cache of `len` positions from each block's keys and values.
    pub fn from_layers(layers: Vec<(Tensor, Tensor)>, len: usize) -> KvCache {
        KvCache { layers: layers.into_iter().map(Some).collect(), len }
    }

    /// The first `len` positions (views of the same storage; nothing is copied).
    pub fn truncated(&self, len: usize) -> Result<KvCache> {
        if len >= self.len {
            return Ok(self.clone());
        }
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                Some((k, v)) => Ok(Some((k.narrow(2, 0, len)?, v.narrow(2, 0, len)?))),
                None => Ok(None),
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(candle_err)?;
        Ok(KvCache { layers, len })
    }
}

/// Recently prefilled prompts with their KV caches, so a prompt that starts
/// like an earlier one (the same evidence asked another question, a
/// parameter-search variant, a rerun) only runs the tokens after the shared
/// prefix. Holds a few entries (about 25 MB per 1,000 tokens for Qwen2.5-0.5B).
#[derive(Default)]
pub struct PrefixCache {
    entries: std::sync::Mutex<Vec<(Vec<u32>, KvCache)>>,
}

/// Prompts kept by [`PrefixCache`].
pub const PREFIX_ENTRIES: usize = 4;

impl PrefixCache {
    /// Forgets every prompt.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Runs `prompt` from the longest cached prefix it shares (at least one
    /// token is always run, for its logits): the last position's logits, the
    /// cache after the prompt, and how many tokens were reused.
    ///
    /// The prompt runs in chunks of [`QUERY_BLOCK`] tokens aligned to
    /// absolute positions, and only whole chunks are reused, so a prompt
    /// computes the same numbers whether it was prefilled from scratch or
    /// from a cached prefix: seeded sampling after it is reproducible.
    pub fn prefill(&self, model: &Model, prompt: &[u32]) -> Result<(Tensor, KvCache, usize)> {
        self.prefill_persisting(model, prompt, None)
    }

    /// Like [`PrefixCache::prefill`], and with `persist = (store, stable)`,
    /// the prompt's first `stable` tokens (rounded down to whole
    /// [`QUERY_BLOCK`]s; a system prompt, say) are read from `store` when
    /// memory has less of them, and written to it when this call computed
    /// them, for the next process.
    pub fn prefill_persisting(
        &self,
        model: &Model,
        prompt: &[u32],
        persist: Option<(&crate::persist::PrefixStore, usize)>,
    ) -> Result<(Tensor, KvCache, usize)> {
        let stable = persist.map_or(0, |(_, n)| n.min(prompt.len().saturating_sub(1)) / QUERY_BLOCK * QUERY_BLOCK);
        let (cache, reused) = {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let best = entries
                .iter()
                .map(|(toks, cache)| (toks.iter().zip(prompt).take_while(|(a, b)| a == b).count(), cache))
                .max_by_key(|(n, _)| *n);
            match best {
                Some((n, cache)) if n >= QUERY_BLOCK => {
                    let n = n.min(prompt.len().saturating_sub(1)) / QUERY_BLOCK * QUERY_BLOCK;
                    (cache.truncated(n)?, n)
                }
                _ => (KvCache::default(), 0),
            }
        };
        let (mut cache, reused) = match persist {
            Some((store, _)) if stable > reused => match store.load(model, &prompt[..stable]) {
                Some(kv) => (kv, stable),
                None => (cache, reused),
            },
            _ => (cache, reused),
        };
        if prompt.len() <= reused {
            return Err(Error::Failed("language model: an empty prompt".into()));
        }
        let mut pos = reused;
        let logits = loop {
            let end = ((pos / QUERY_BLOCK + 1) * QUERY_BLOCK).min(prompt.len());
            let logits = model.forward_last(&prompt[pos..end], &mut cache)?;
            pos = end;
            if let (Some((store, _)), true) = (persist, pos == stable && reused < stable) {
                store.save(&prompt[..stable], &cache);
            }
            if pos == prompt.len() {
                break logits;
            }
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(toks, _)| toks.as_slice() != prompt);
        if entries.len() >= PREFIX_ENTRIES {
            entries.remove(0);
        }
        entries.push((prompt.to_vec(), cache.clone()));
        Ok((logits, cache, reused))
    }
}

/// The loaded model.
pub struct Model {
    /// Its hyper-parameters.
    pub config: Config,
    embed: Arc<QTensor>,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

/// Queries per attention block in a long chunk (each block sees only the keys up to its last query).
pub const QUERY_BLOCK: usize = 128;

/// Longest sequence the RoPE tables are built for (prompt plus generation).
pub const MAX_POSITIONS: usize = 8192;

impl Model {
    /// Loads the GGUF model at `path` (checking every tensor's presence and shape).
    pub fn load(model: &str, path: &Path, device: &Device) -> Result<Model> {
        let mut f = GgufFile::open(model, path)?;
        Model::read(&mut Loader { f: &mut f, device, form: Form::Original, kept: None })
    }

    /// Loads like [`Model::load`], through the prepared copy of the weights
    /// `store` keeps ([`PreparedStore`]): read from it when it is there and
    /// sound, else prepared from `path` and written to it for the next
    /// process. Only CPU weights are prepared (GPU kernels take every format
    /// as is), so on another device this is [`Model::load`].
    pub fn load_prepared(model: &str, path: &Path, device: &Device, store: &PreparedStore) -> Result<Model> {
        if !device.is_cpu() {
            return Model::load(model, path, device);
        }
        if store.file().is_file() {
            let prepared = GgufFile::open(model, store.file()).and_then(|mut f| {
                store.check(&f).map_err(|why| f.bad(why))?;
                Model::read(&mut Loader { f: &mut f, device, form: Form::Prepared, kept: None })
            });
            match prepared {
                Ok(m) => return Ok(m),
                Err(why) => tracing::warn!(%why, "llm: ignoring prepared weights (preparing them again)"),
            }
        }
        let mut f = GgufFile::open(model, path)?;
        let mut loader = Loader { f: &mut f, device, form: Form::Original, kept: Some(Vec::new()) };
        let m = Model::read(&mut loader)?;
        let kept = loader.kept.take().unwrap_or_default();
        store.save(&f.content.metadata, &kept);
        Ok(m)
    }

    fn read(l: &mut Loader<'_>) -> Result<Model> {
        let cfg = l.f.config()?;
        let device = l.device;
        let (h, kv, ffn) = (cfg.hidden, cfg.kv_heads * cfg.head_dim, cfg.ffn);
        let embed = Arc::new(l.f.tensor("token_embd.weight", &[cfg.vocab, h], device)?);
        l.keep("token_embd.weight", &embed);
        let norm = l.vector("output_norm.weight", h)?;
        let output = if l.f.has_tensor("output.weight") {
            l.matrix("output.weight", cfg.vocab, h)?
        } else {
            // Tied embeddings (kept as `output.weight` in prepared form).
            let q = l.f.tensor("token_embd.weight", &[cfg.vocab, h], device)?;
            l.linear("output.weight", q, 0)?
        };
        let mut blocks = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let p = format!("blk.{i}");
            let bias = match cfg.arch {
                Arch::Qwen2 => Some((
                    l.vector(&format!("{p}.attn_q.bias"), h)?,
                    l.vector(&format!("{p}.attn_k.bias"), kv)?,
                    l.vector(&format!("{p}.attn_v.bias"), kv)?,
                )),
                Arch::Llama => None,
            };
            blocks.push(Block {
                attn_norm: l.vector(&format!("{p}.attn_norm.weight"), h)?,
                wq: l.matrix(&format!("{p}.attn_q.weight"), h, h)?,
                wk: l.matrix(&format!("{p}.attn_k.weight"), kv, h)?,
                wv: l.matrix(&format!("{p}.attn_v.weight"), kv, h)?,
                wo: l.matrix(&format!("{p}.attn_output.weight"), h, h)?,
                bias,
                ffn_norm: l.vector(&format!("{p}.ffn_norm.weight"), h)?,
                gate: l.matrix(&format!("{p}.ffn_gate.weight"), ffn, h)?,
                up: l.matrix(&format!("{p}.ffn_up.weight"), ffn, h)?,
                down: l.matrix(&format!("{p}.ffn_down.weight"), h, ffn)?,
            });
        }
        let positions = MAX_POSITIONS.min(cfg.context_length.max(1));
        let (cos, sin) = rope_tables(cfg.head_dim, cfg.rope_theta, positions, device).map_err(candle_err)?;
        Ok(Model { config: cfg, embed, blocks, norm, output, cos, sin, device: device.clone() })
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Longest sequence (cache plus chunk) this model runs.
    pub fn max_positions(&self) -> usize {
        self.cos.dims().first().copied().unwrap_or(0)
    }

    /// Runs `tokens` after the positions in `cache` (which it extends) and
    /// returns their logits, `[tokens.len(), vocab]`, as f32.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.forward_inner(tokens, cache, true)
    }

    /// Like [`Model::forward`] but returns only the last position's logits, `[vocab]`
    /// (skips the output projection of every other position).
    pub fn forward_last(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let logits = self.forward_inner(tokens, cache, false)?;
        logits.squeeze(0).map_err(candle_err)
    }

    fn forward_inner(&self, tokens: &[u32], cache: &mut KvCache, all: bool) -> Result<Tensor> {
        let t = tokens.len();
        if t == 0 {
            return Err(Error::Failed("language model: no tokens to run".into()));
        }
        let start = cache.len;
        if start + t > self.max_positions() {
            return Err(Error::PromptTooLong { needed: start + t, max: self.max_positions() });
        }
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![None; self.blocks.len()];
        }
        let mut run = || -> candle_core::Result<Tensor> {
            let ids = Tensor::new(tokens, &self.device)?;
            let mut x = self.embed.embedding(&ids)?.unsqueeze(0)?; // [1, t, hidden]
            let mask = causal_mask(t, start, &self.device)?;
            let cos = self.cos.narrow(0, start, t)?;
            let sin = self.sin.narrow(0, start, t)?;
            for (block, slot) in self.blocks.iter().zip(cache.layers.iter_mut()) {
                let residual = &x;
                let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, self.config.rms_eps as f32)?;
                let h = self.attention(block, &h, slot, mask.as_ref(), &cos, &sin)?;
                let x1 = (residual + h)?;
                let h = candle_nn::ops::rms_norm(&x1, &block.ffn_norm, self.config.rms_eps as f32)?;
                let gate = block.gate.forward(&h)?;
                let up = block.up.forward(&h)?;
                let h = block.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)?;
                x = (x1 + h)?;
            }
            let x = if all { x } else { x.narrow(1, t - 1, 1)? };
            let x = candle_nn::ops::rms_norm(&x, &self.norm, self.config.rms_eps as f32)?;
            let logits = self.output.forward(&x)?;
            logits.squeeze(0)?.to_dtype(DType::F32)
        };
        let logits = run().map_err(candle_err)?;
        cache.len = start + t;
        Ok(logits)
    }

    fn attention(
        &self,
        block: &Block,
        x: &Tensor,
        slot: &mut Option<(Tensor, Tensor)>,
        mask: Option<&Tensor>,
        cos: &Tensor,
        sin: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let (_, t, _) = x.dims3()?;
        let mut q = block.wq.forward(x)?;
        let mut k = block.wk.forward(x)?;
        let mut v = block.wv.forward(x)?;
        if let Some((bq, bk, bv)) = &block.bias {
            q = q.broadcast_add(bq)?;
            k = k.broadcast_add(bk)?;
            v = v.broadcast_add(bv)?;
        }
        // [1, heads, t, head_dim]
        let q = q.reshape((1, t, c.heads, c.head_dim))?.transpose(1, 2)?.contiguous()?;
        let k = k.reshape((1, t, c.kv_heads, c.head_dim))?.transpose(1, 2)?.contiguous()?;
        let v = v.reshape((1, t, c.kv_heads, c.head_dim))?.transpose(1, 2)?.contiguous()?;
        let (q, k) = match c.arch {
            Arch::Qwen2 => (candle_nn::rotary_emb::rope(&q, cos, sin)?, candle_nn::rotary_emb::rope(&k, cos, sin)?),
            Arch::Llama => (candle_nn::rotary_emb::rope_i(&q, cos, sin)?, candle_nn::rotary_emb::rope_i(&k, cos, sin)?),
        };
        let (k, v) = match slot.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *slot = Some((k.clone(), v.clone()));
        // Grouped-query attention without copying K/V: the `rep` query heads
        // sharing one KV head are stacked along the time axis. Long chunks
        // run in blocks of queries, each against only the keys it may see
        // (half the work of the full causal square, and small intermediates).
        let rep = c.heads / c.kv_heads;
        let k = k.squeeze(0)?; // [kv, total, d]
        let v = v.squeeze(0)?;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let mut blocks = Vec::with_capacity(t.div_ceil(QUERY_BLOCK));
        for i0 in (0..t).step_by(QUERY_BLOCK) {
            let len = QUERY_BLOCK.min(t - i0);
            let seen = k.dim(1)? - t + i0 + len; // keys up to the block's last query
            let qb = if len == t { q.clone() } else { q.narrow(2, i0, len)?.contiguous()? };
            let qb = qb.reshape((c.kv_heads, rep * len, c.head_dim))?;
            let kb = if seen == k.dim(1)? { k.clone() } else { k.narrow(1, 0, seen)?.contiguous()? };
            let vb = if seen == v.dim(1)? { v.clone() } else { v.narrow(1, 0, seen)?.contiguous()? };
            let att = (qb.matmul(&kb.t()?)? * scale)?; // [kv, rep*len, seen]
            let att = match mask {
                Some(m) => {
                    let mb = m.narrow(0, i0, len)?.narrow(1, 0, seen)?;
                    att.reshape((c.kv_heads, rep, len, seen))?.broadcast_add(&mb)?.reshape((c.kv_heads, rep * len, seen))?
                }
                None => att,
            };
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            blocks.push(att.matmul(&vb)?.reshape((1, c.heads, len, c.head_dim))?);
            // [1, heads, len, d]
        }
        let y = if blocks.len() == 1 { blocks.remove(0) } else { Tensor::cat(&blocks, 2)? };
        let y = y.transpose(1, 2)?.reshape((1, t, c.hidden))?;
        block.wo.forward(&y)
    }
}

/// A weight matrix prepared for the fastest CPU kernel candle has, and how
/// many zero columns its input is padded with to match.
///
/// candle 0.11's x86 kernels cover Q4_0, Q8_0 and the K-quants; Q4_1, Q5_0
/// and Q5_1 fall back to scalar code. Qwen2.5's Q4_K_M file stores 133 of
/// its 170 weight matrices as Q5_0 (its 896-wide rows are not a multiple of
/// the K-quants' 256), and the scalar dot product took 89% of `choose`'s
/// time. Such matrices are requantized to Q8_0 at load: the added error is
/// at most half a step of 1/127 of each 32-value block's maximum, well under
/// the 5-bit step the weights already carry.
///
/// On CPUs with VNNI, candle multiplies Q8_0 through repacked int8 tiles,
/// but only when the inner dimension is a multiple of 256, so 896-wide
/// matrices are also zero-padded to 1,024 columns (their inputs get zero
/// columns to match: the product is unchanged). This took a 1,000-token
/// prefill from 56 to N tokens/s. (GPU kernels cover every format as is.)
struct Linear {
    w: QMatMul,
    pad: usize,
}

impl Linear {
    /// `q` prepared for the kernels of `device`, with the tensor it now
    /// multiplies by (`q` itself when it needed nothing).
    fn new(q: QTensor, device: &Device) -> candle_core::Result<(Linear, Arc<QTensor>)> {
        let (n, k) = q.shape().dims2()?;
        let dtype = q.dtype();
        let scalar_only = matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1);
        let q8_able = k % GgmlDType::Q8_0.block_size() == 0;
        let pad = if device.is_cpu() && has_vnni() && q8_able && (scalar_only || dtype == GgmlDType::Q8_0) && k % 256 != 0 && n % 16 == 0 {
            k.next_multiple_of(256) - k
        } else {
            0
        };
        if !device.is_cpu() || !q8_able || (!scalar_only && pad == 0) {
            return Linear::prepared(Arc::new(q), 0);
        }
        let mut f = q.dequantize(device)?;
        if pad > 0 {
            f = f.pad_with_zeros(1, 0, pad)?;
        }
        Linear::prepared(Arc::new(QTensor::quantize(&f, GgmlDType::Q8_0)?), pad)
    }

    /// A matrix already prepared, whose inputs get `pad` zero columns.
    fn prepared(q: Arc<QTensor>, pad: usize) -> candle_core::Result<(Linear, Arc<QTensor>)> {
        Ok((Linear { w: QMatMul::from_arc(q.clone())?, pad }, q))
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.pad == 0 {
            self.w.forward(x)
        } else {
            self.w.forward(&x.pad_with_zeros(D::Minus1, 0, self.pad)?)
        }
    }
}

/// Which form a GGUF file's weights are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// As published: matrices are prepared while loading.
    Original,
    /// As [`Linear::new`] leaves them (a [`PreparedStore`] file): matrices
    /// may be Q8_0 and zero-padded to a multiple of 256 columns.
    Prepared,
}

/// Reads one model's tensors from a GGUF file, optionally keeping each as
/// prepared (for [`PreparedStore::save`]).
struct Loader<'a> {
    f: &'a mut GgufFile,
    device: &'a Device,
    form: Form,
    kept: Option<Vec<(String, Arc<QTensor>)>>,
}

impl Loader<'_> {
    fn keep(&mut self, name: &str, q: &Arc<QTensor>) {
        if let Some(kept) = &mut self.kept {
            kept.push((name.to_string(), q.clone()));
        }
    }

    /// A vector of `n` values, as f32.
    fn vector(&mut self, name: &str, n: usize) -> Result<Tensor> {
        let q = Arc::new(self.f.tensor(name, &[n], self.device)?);
        self.keep(name, &q);
        q.dequantize(self.device).map_err(|e| self.f.bad(format!("tensor `{name}`: {e}")))
    }

    /// A `rows` x `cols` weight matrix, prepared.
    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<Linear> {
        match self.form {
            Form::Original => {
                let q = self.f.tensor(name, &[rows, cols], self.device)?;
                self.linear(name, q, 0)
            }
            Form::Prepared => {
                let padded = cols.next_multiple_of(256);
                let stored = if self.f.tensor_dims(name) == Some(&[rows, padded][..]) { padded } else { cols };
                let q = self.f.tensor(name, &[rows, stored], self.device)?;
                self.linear(name, q, stored - cols)
            }
        }
    }

    /// `q` as a matrix: prepared now ([`Form::Original`]) or taken as it is
    /// with inputs padded by `pad` columns.
    fn linear(&mut self, name: &str, q: QTensor, pad: usize) -> Result<Linear> {
        let made = match self.form {
            Form::Original => Linear::new(q, self.device),
            Form::Prepared => Linear::prepared(Arc::new(q), pad),
        };
        let (linear, prepared) = made.map_err(|e| self.f.bad(format!("tensor `{name}`: {e}")))?;
        self.keep(name, &prepared);
        Ok(linear)
    }
}

/// The CPU kernels the numbers come from (`vnni` when candle multiplies
/// repacked int8 tiles), part of the key of stored prefixes.
pub fn kernel_tag() -> &'static str {
    if has_vnni() {
        "cpu-vnni"
    } else {
        "cpu"
    }
}

/// Whether the CPU has the int8 dot-product instructions candle's repacked
/// Q8_0 kernels need.
fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni") || std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `[t, start + t]` additive mask: 0 where query `i` may see key `j`
/// (`j <= start + i`), `-inf` elsewhere. `None` for a single token.
fn causal_mask(t: usize, start: usize, device: &Device) -> candle_core::Result<Option<Tensor>> {
    if t == 1 {
        return Ok(None);
    }
    let total = start + t;
    let data: Vec<f32> = (0..t).flat_map(|i| (0..total).map(move |j| if j <= start + i { 0.0 } else { f32::NEG_INFINITY })).collect();
    Tensor::from_vec(data, (t, total), device).map(Some)
}

/// cos/sin tables `[positions, head_dim / 2]`.
fn rope_tables(head_dim: usize, theta: f32, positions: usize, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1.0 / theta.powf(i as f32 / head_dim as f32)).collect();
    let inv = Tensor::new(inv.as_slice(), device)?.reshape((1, head_dim / 2))?;
    let pos = Tensor::arange(0, positions as u32, device)?.to_dtype(DType::F32)?.reshape((positions, 1))?;
    let freqs = pos.matmul(&inv)?;
    Ok((freqs.cos()?, freqs.sin()?))
}

/// Natural-log softmax of the last dimension of `logits`.
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    candle_nn::ops::log_softmax(logits, D::Minus1).map_err(candle_err)
}

/// The natural-log probabilities of a single row of logits (`[vocab]`).
pub fn log_probs(logits: &Tensor) -> Result<Vec<f32>> {
    log_softmax(logits)?.to_vec1::<f32>().map_err(candle_err)
}
