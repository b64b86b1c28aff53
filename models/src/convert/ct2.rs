//! CTranslate2 Whisper checkpoints to candle safetensors.
//!
//! CTranslate2 stores a model as one `model.bin` (little endian):
//!
//! ```text
//! u32 binary_version                      (1 ..= 6 are read)
//! if version >= 2: string spec_name, u32 spec_revision
//! u32 variable_count
//! variable_count times:
//!     string name, u8 rank, rank × u32 dims,
//!     version >= 4: u8 dtype id, u32 byte count
//!     version <  4: u8 item size, u32 item count
//!     the bytes
//! if version >= 3: u32 alias_count, alias_count times (string alias, string target)
//! ```
//!
//! where a string is a `u16` length that counts a trailing NUL, then the
//! bytes and the NUL. Dtype ids follow CTranslate2's `DataType` enum:
//! 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
//!
//! [`convert_whisper`] maps a `WhisperSpec` onto the Hugging Face
//! transformers names that candle-transformers' `whisper::model::Whisper`
//! loads (`model.encoder.conv1.weight`, `model.decoder.layers.0.self_attn.q_proj.weight`, ...):
//!
//! - the fused self-attention projection (`linear_0`, rows `[q; k; v]`) is
//!   split into `q_proj`, `k_proj`, `v_proj`; the fused cross-attention
//!   key/value projection (`linear_1`, rows `[k; v]`) into `k_proj`, `v_proj`.
//!   The key bias is dropped: Whisper's key projection has none (CTranslate2
//!   fuses zeros), and a key bias adds the same amount to every score of a
//!   query, which the softmax cancels, so dropping it is exact in any case;
//! - layer norms' `gamma`/`beta` become `weight`/`bias`;
//! - quantized weights (int8 or int16 with a `weight_scale`) are dequantized
//!   to float32 (`value / scale`, per output row or one scalar); float16,
//!   bfloat16 and float32 tensors are copied bit for bit;
//! - aliases (the output projection tied to the token embedding) are resolved;
//!   an output projection that differs from the embedding is refused, since
//!   candle's Whisper always ties them;
//! - the learned positional embeddings are written as
//!   `model.{encoder,decoder}.embed_positions.weight`.
//!
//! The dimensions of `config.json` come from the tensor shapes and the stored
//! head counts (`encoder/num_heads`, `decoder/num_heads`; `d_model / 64`, the
//! rule of every Whisper size, when absent), the suppressed tokens from
//! CTranslate2's `config.json`. The output is deterministic: tensors in name
//! order, a header with sorted keys, no timestamps.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Binary versions of `model.bin` this reader understands.
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u32> = 1..=6;

/// The element type of a CTranslate2 variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    /// IEEE float32.
    F32,
    /// Signed 8-bit integer (quantized weights, booleans).
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// IEEE float16.
    F16,
    /// bfloat16.
    BF16,
}

impl Ct2Dtype {
    /// From CTranslate2's `DataType` id.
    pub fn from_id(id: u8) -> Option<Ct2Dtype> {
        Some(match id {
            0 => Ct2Dtype::F32,
            1 => Ct2Dtype::I8,
            2 => Ct2Dtype::I16,
            3 => Ct2Dtype::I32,
            4 => Ct2Dtype::F16,
            5 => Ct2Dtype::BF16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Ct2Dtype::I8 => 1,
            Ct2Dtype::I16 | Ct2Dtype::F16 | Ct2Dtype::BF16 => 2,
            Ct2Dtype::F32 | Ct2Dtype::I32 => 4,
        }
    }
}

/// One variable of a CTranslate2 model, borrowing the file's bytes.
#[derive(Debug, Clone)]
pub struct Variable<'a> {
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Ct2Dtype,
    /// The little-endian elements.
    pub data: &'a [u8],
}

impl Variable<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `f32` (integers are converted, not dequantized).
    pub fn to_f32(&self) -> Vec<f32> {
        let d = self.data;
        match self.dtype {
            Ct2Dtype::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Ct2Dtype::F16 => d.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
            Ct2Dtype::BF16 => d.chunks_exact(2).map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)).collect(),
            Ct2Dtype::I8 => d.iter().map(|&b| f32::from(b as i8)).collect(),
            Ct2Dtype::I16 => d.chunks_exact(2).map(|c| f32::from(i16::from_le_bytes([c[0], c[1]]))).collect(),
            Ct2Dtype::I32 => d.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect(),
        }
    }

    /// A scalar as an integer (for head counts and flags).
    pub fn scalar_int(&self) -> Option<i64> {
        if self.len() != 1 {
            return None;
        }
        let d = self.data;
        Some(match self.dtype {
            Ct2Dtype::I8 => i64::from(d[0] as i8),
            Ct2Dtype::I16 => i64::from(i16::from_le_bytes([d[0], d[1]])),
            Ct2Dtype::I32 => i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])),
            _ => self.to_f32()[0] as i64,
        })
    }
}

/// IEEE half to single precision (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m · 2^-24.
            let v = m as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// A parsed `model.bin`.
#[derive(Debug, Clone)]
pub struct Ct2Model<'a> {
    /// Binary format version.
    pub version: u32,
    /// Spec name (`WhisperSpec`), empty before version 2.
    pub spec: String,
    /// Spec revision, 0 before version 2.
    pub revision: u32,
    /// Variables by name.
    pub variables: BTreeMap<String, Variable<'a>>,
    /// Alias name → the variable it stands for.
    pub aliases: BTreeMap<String, String>,
}

impl<'a> Ct2Model<'a> {
    /// The variable `name`, following aliases.
    pub fn get(&self, name: &str) -> Option<&Variable<'a>> {
        let mut name = name;
        for _ in 0..16 {
            if let Some(v) = self.variables.get(name) {
                return Some(v);
            }
            name = self.aliases.get(name)?;
        }
        None
    }

    /// Whether `name` is an alias of `target`.
    pub fn is_alias_of(&self, name: &str, target: &str) -> bool {
        self.aliases.get(name).is_some_and(|t| t == target)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!("truncated model.bin: {what} needs {n} byte(s) at offset {} but the file has {} byte(s)", self.pos, self.bytes.len())
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let len = usize::from(self.u16(what)?);
        let at = self.pos;
        let b = self.take(len, what)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        String::from_utf8(b.to_vec()).map_err(|_| format!("corrupt model.bin: {what} at offset {at} is not UTF-8"))
    }
}

/// Parses a CTranslate2 `model.bin`.
///
/// # Errors
///
/// A sentence saying what is wrong: truncated (with the offset), an
/// unsupported binary version, an unknown dtype, a payload size that does not
/// match the shape, trailing bytes, a duplicate name or a dangling alias.
pub fn parse(bytes: &[u8]) -> Result<Ct2Model<'_>, String> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u32("the binary version")?;
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(format!(
            "not a CTranslate2 model.bin this converter can read: binary version {version} (supported: {}..={})",
            SUPPORTED_VERSIONS.start(),
            SUPPORTED_VERSIONS.end()
        ));
    }
    let (spec, revision) = if version >= 2 { (r.string("the spec name")?, r.u32("the spec revision")?) } else { (String::new(), 0) };
    let count = r.u32("the variable count")?;
    let mut variables = BTreeMap::new();
    for i in 0..count {
        let name = r.string(&format!("the name of variable {i}"))?;
        let rank = usize::from(r.u8(&format!("the rank of `{name}`"))?);
        if rank > 8 {
            return Err(format!("corrupt model.bin: variable `{name}` claims rank {rank}"));
        }
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u32(&format!("the shape of `{name}`"))? as usize);
        }
        let (dtype, num_bytes) = if version >= 4 {
            let id = r.u8(&format!("the dtype of `{name}`"))?;
            let dtype = Ct2Dtype::from_id(id).ok_or_else(|| {
                format!(
                    "unsupported dtype id {id} for variable `{name}` (known: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16)"
                )
            })?;
            (dtype, r.u32(&format!("the byte count of `{name}`"))? as usize)
        } else {
            let item = r.u8(&format!("the item size of `{name}`"))?;
            let dtype = match item {
                1 => Ct2Dtype::I8,
                2 => Ct2Dtype::I16,
                4 => Ct2Dtype::F32,
                _ => return Err(format!("unsupported item size {item} for variable `{name}`")),
            };
            let items = r.u32(&format!("the item count of `{name}`"))? as usize;
            (dtype, items.saturating_mul(usize::from(item)))
        };
        let expected = shape.iter().try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
        if expected != Some(num_bytes) {
            return Err(format!(
                "corrupt model.bin: variable `{name}` of shape {shape:?} and dtype {dtype:?} holds {num_bytes} byte(s), expected {}",
                expected.map_or_else(|| "an overflowing count".to_string(), |e| e.to_string())
            ));
        }
        let data = r.take(num_bytes, &format!("the data of `{name}`"))?;
        if variables.insert(name.clone(), Variable { shape, dtype, data }).is_some() {
            return Err(format!("corrupt model.bin: variable `{name}` appears twice"));
        }
    }
    let mut aliases = BTreeMap::new();
    if version >= 3 {
        let n = r.u32("the alias count")?;
        for i in 0..n {
            let alias = r.string(&format!("alias {i}"))?;
            let target = r.string(&format!("the target of alias `{alias}`"))?;
            aliases.insert(alias, target);
        }
    }
    if r.pos != bytes.len() {
        return Err(format!("corrupt model.bin: {} unexpected byte(s) after the last record at offset {}", bytes.len() - r.pos, r.pos));
    }
    let model = Ct2Model { version, spec, revision, variables, aliases };
    for (alias, target) in &model.aliases {
        if model.get(alias).is_none() {
            return Err(format!("corrupt model.bin: alias `{alias}` points at `{target}`, which does not exist"));
        }
    }
    Ok(model)
}

/// A tensor to write: safetensors dtype name, shape, little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
struct OutTensor {
    dtype: &'static str,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl OutTensor {
    /// Rows `start..start + count` of the first dimension.
    fn rows(&self, start: usize, count: usize) -> OutTensor {
        let row: usize = self.shape.iter().skip(1).product::<usize>() * self.data.len() / self.shape.iter().product::<usize>().max(1);
        let mut shape = self.shape.clone();
        shape[0] = count;
        OutTensor { dtype: self.dtype, shape, data: self.data[start * row..(start + count) * row].to_vec() }
    }
}

/// Variable `name` as a float tensor: float types copied, quantized integers
/// divided by their `<name>_scale`.
fn float_tensor(m: &Ct2Model<'_>, name: &str) -> Result<OutTensor, String> {
    let v = m.get(name).ok_or_else(|| format!("the model has no variable `{name}` (is it a Whisper model?)"))?;
    let (dtype, data) = match v.dtype {
        Ct2Dtype::F32 => ("F32", v.data.to_vec()),
        Ct2Dtype::F16 => ("F16", v.data.to_vec()),
        Ct2Dtype::BF16 => ("BF16", v.data.to_vec()),
        Ct2Dtype::I8 | Ct2Dtype::I16 | Ct2Dtype::I32 => {
            let scale_name = format!("{name}_scale");
            let scale = m
                .get(&scale_name)
                .ok_or_else(|| format!("variable `{name}` is {:?} without a `{scale_name}` to dequantize it", v.dtype))?
                .to_f32();
            let values = v.to_f32();
            let rows = v.shape.first().copied().unwrap_or(1).max(1);
            let per_row = values.len() / rows;
            let out: Vec<f32> = match scale.len() {
                1 => values.iter().map(|x| x / scale[0]).collect(),
                n if n == rows => values.iter().enumerate().map(|(i, x)| x / scale[i / per_row.max(1)]).collect(),
                n => return Err(format!("`{scale_name}` has {n} value(s) but `{name}` has {rows} row(s)")),
            };
            if scale.iter().any(|s| *s == 0.0 || !s.is_finite()) {
                return Err(format!("`{scale_name}` holds a zero or non-finite scale"));
            }
            ("F32", out.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
    };
    Ok(OutTensor { dtype, shape: v.shape.clone(), data })
}

fn expect_shape(name: &str, t: &OutTensor, shape: &[usize]) -> Result<(), String> {
    if t.shape != shape {
        return Err(format!("variable `{name}` has shape {:?}, expected {shape:?}", t.shape));
    }
    Ok(())
}

/// The candle (Hugging Face) Whisper config written as `config.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WhisperConfig {
    /// Always `whisper`.
    pub model_type: String,
    /// Mel bins of the input.
    pub num_mel_bins: usize,
    /// Encoder positions (1500).
    pub max_source_positions: usize,
    /// Model width.
    pub d_model: usize,
    /// Encoder attention heads.
    pub encoder_attention_heads: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Decoder positions (448).
    pub max_target_positions: usize,
    /// Decoder attention heads.
    pub decoder_attention_heads: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Tokens never sampled.
    pub suppress_tokens: Vec<u32>,
    /// Tokens not sampled at the first position.
    pub begin_suppress_tokens: Vec<u32>,
    /// Cross-attention heads that align with time, `[layer, head]`.
    pub alignment_heads: Vec<[u32; 2]>,
    /// Where it came from.
    pub converted_from: String,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Ct2Config {
    #[serde(default)]
    suppress_ids: Vec<u32>,
    #[serde(default)]
    suppress_ids_begin: Vec<u32>,
    #[serde(default)]
    alignment_heads: Vec<[u32; 2]>,
}

fn count_layers(m: &Ct2Model<'_>, prefix: &str) -> usize {
    (0..).take_while(|i| m.variables.keys().any(|k| k.starts_with(&format!("{prefix}/layer_{i}/")))).count()
}

fn heads(m: &Ct2Model<'_>, name: &str, d_model: usize) -> Result<usize, String> {
    let n = match m.get(name) {
        Some(v) => v.scalar_int().ok_or_else(|| format!("`{name}` is not a scalar"))?,
        None => (d_model / 64).max(1) as i64,
    };
    if n <= 0 || d_model % n as usize != 0 {
        return Err(format!("`{name}` = {n} does not divide the model width {d_model}"));
    }
    Ok(n as usize)
}

/// Converts a parsed CTranslate2 Whisper model into candle tensors (by name)
/// and its config.
fn whisper_tensors(m: &Ct2Model<'_>, ct2: &Ct2Config) -> Result<(BTreeMap<String, OutTensor>, WhisperConfig), String> {
    if !m.spec.is_empty() && m.spec != "WhisperSpec" {
        return Err(format!("model.bin holds a {} model, not a WhisperSpec", m.spec));
    }
    let mut out = BTreeMap::new();
    let emb = float_tensor(m, "decoder/embeddings/weight")?;
    let [vocab, d] = emb.shape[..] else { return Err(format!("decoder/embeddings/weight has shape {:?}, expected 2-D", emb.shape)) };
    if m.variables.contains_key("decoder/projection/weight") && !m.is_alias_of("decoder/projection/weight", "decoder/embeddings/weight") {
        let proj = float_tensor(m, "decoder/projection/weight")?;
        if proj != emb {
            return Err("the output projection differs from the token embedding; candle's Whisper ties them".into());
        }
    }
    if m.get("decoder/projection/bias").is_some() {
        return Err("the output projection has a bias, which candle's Whisper does not support".into());
    }
    let conv1 = float_tensor(m, "encoder/conv1/weight")?;
    let [_, n_mels, 3] = conv1.shape[..] else {
        return Err(format!("encoder/conv1/weight has shape {:?}, expected [d, mels, 3]", conv1.shape));
    };
    expect_shape("encoder/conv1/weight", &conv1, &[d, n_mels, 3])?;
    let enc_pos = float_tensor(m, "encoder/position_encodings/encodings")?;
    let dec_pos = float_tensor(m, "decoder/position_encodings/encodings")?;
    let (n_src, n_tgt) = (enc_pos.shape.first().copied().unwrap_or(0), dec_pos.shape.first().copied().unwrap_or(0));
    expect_shape("encoder/position_encodings/encodings", &enc_pos, &[n_src, d])?;
    expect_shape("decoder/position_encodings/encodings", &dec_pos, &[n_tgt, d])?;
    let (enc_layers, dec_layers) = (count_layers(m, "encoder"), count_layers(m, "decoder"));
    if enc_layers == 0 || dec_layers == 0 {
        return Err(format!("found {enc_layers} encoder and {dec_layers} decoder layer(s); a Whisper model has both"));
    }

    let mut put = |name: String, t: OutTensor| {
        out.insert(name, t);
    };
    put("model.decoder.embed_tokens.weight".into(), emb);
    put("model.encoder.conv1.weight".into(), conv1);
    put("model.encoder.embed_positions.weight".into(), enc_pos);
    put("model.decoder.embed_positions.weight".into(), dec_pos);

    let mut copy = |src: &str, dst: &str, shape: &[usize]| -> Result<(), String> {
        let t = float_tensor(m, src)?;
        expect_shape(src, &t, shape)?;
        out.insert(dst.to_string(), t);
        Ok(())
    };
    copy("encoder/conv1/bias", "model.encoder.conv1.bias", &[d])?;
    copy("encoder/conv2/weight", "model.encoder.conv2.weight", &[d, d, 3])?;
    copy("encoder/conv2/bias", "model.encoder.conv2.bias", &[d])?;
    for side in ["encoder", "decoder"] {
        copy(&format!("{side}/layer_norm/gamma"), &format!("model.{side}.layer_norm.weight"), &[d])?;
        copy(&format!("{side}/layer_norm/beta"), &format!("model.{side}.layer_norm.bias"), &[d])?;
    }
    let mut linear = |src: &str, dst: &str, out_dim: Option<usize>, in_dim: usize| -> Result<usize, String> {
        let w = float_tensor(m, &format!("{src}/weight"))?;
        let rows = out_dim.unwrap_or_else(|| w.shape.first().copied().unwrap_or(0));
        expect_shape(&format!("{src}/weight"), &w, &[rows, in_dim])?;
        let b = float_tensor(m, &format!("{src}/bias"))?;
        expect_shape(&format!("{src}/bias"), &b, &[rows])?;
        out.insert(format!("{dst}.weight"), w);
        out.insert(format!("{dst}.bias"), b);
        Ok(rows)
    };
    let mut ffn_dims = Vec::new();
    for (side, n) in [("encoder", enc_layers), ("decoder", dec_layers)] {
        for i in 0..n {
            let (src, dst) = (format!("{side}/layer_{i}"), format!("model.{side}.layers.{i}"));
            linear(&format!("{src}/self_attention/linear_1"), &format!("{dst}.self_attn.out_proj"), Some(d), d)?;
            let ff = linear(&format!("{src}/ffn/linear_0"), &format!("{dst}.fc1"), None, d)?;
            linear(&format!("{src}/ffn/linear_1"), &format!("{dst}.fc2"), Some(d), ff)?;
            ffn_dims.push(ff);
            if side == "decoder" {
                linear(&format!("{src}/attention/linear_0"), &format!("{dst}.encoder_attn.q_proj"), Some(d), d)?;
                linear(&format!("{src}/attention/linear_2"), &format!("{dst}.encoder_attn.out_proj"), Some(d), d)?;
            }
        }
    }
    let mut norm = |src: &str, dst: &str| -> Result<(), String> {
        for (a, b) in [("gamma", "weight"), ("beta", "bias")] {
            let t = float_tensor(m, &format!("{src}/{a}"))?;
            expect_shape(&format!("{src}/{a}"), &t, &[d])?;
            out.insert(format!("{dst}.{b}"), t);
        }
        Ok(())
    };
    for (side, n) in [("encoder", enc_layers), ("decoder", dec_layers)] {
        for i in 0..n {
            let (src, dst) = (format!("{side}/layer_{i}"), format!("model.{side}.layers.{i}"));
            norm(&format!("{src}/self_attention/layer_norm"), &format!("{dst}.self_attn_layer_norm"))?;
            norm(&format!("{src}/ffn/layer_norm"), &format!("{dst}.final_layer_norm"))?;
            if side == "decoder" {
                norm(&format!("{src}/attention/layer_norm"), &format!("{dst}.encoder_attn_layer_norm"))?;
            }
        }
    }
    // The fused projections.
    let mut fused = |src: &str, dst: &str, parts: &[&str]| -> Result<(), String> {
        let w = float_tensor(m, &format!("{src}/weight"))?;
        let b = float_tensor(m, &format!("{src}/bias"))?;
        let n = parts.len();
        expect_shape(&format!("{src}/weight"), &w, &[n * d, d])?;
        expect_shape(&format!("{src}/bias"), &b, &[n * d])?;
        for (k, part) in parts.iter().enumerate() {
            out.insert(format!("{dst}.{part}.weight"), w.rows(k * d, d));
            if *part != "k_proj" {
                out.insert(format!("{dst}.{part}.bias"), b.rows(k * d, d));
            }
        }
        Ok(())
    };
    for (side, n) in [("encoder", enc_layers), ("decoder", dec_layers)] {
        for i in 0..n {
            let (src, dst) = (format!("{side}/layer_{i}"), format!("model.{side}.layers.{i}"));
            fused(&format!("{src}/self_attention/linear_0"), &format!("{dst}.self_attn"), &["q_proj", "k_proj", "v_proj"])?;
            if side == "decoder" {
                fused(&format!("{src}/attention/linear_1"), &format!("{dst}.encoder_attn"), &["k_proj", "v_proj"])?;
            }
        }
    }
    if ffn_dims.iter().any(|&f| f != 4 * d) {
        return Err(format!("feed-forward widths {ffn_dims:?} are not 4 × {d}, which candle's Whisper assumes"));
    }
    let config = WhisperConfig {
        model_type: "whisper".into(),
        num_mel_bins: n_mels,
        max_source_positions: n_src,
        d_model: d,
        encoder_attention_heads: heads(m, "encoder/num_heads", d)?,
        encoder_layers: enc_layers,
        vocab_size: vocab,
        max_target_positions: n_tgt,
        decoder_attention_heads: heads(m, "decoder/num_heads", d)?,
        decoder_layers: dec_layers,
        suppress_tokens: ct2.suppress_ids.clone(),
        begin_suppress_tokens: ct2.suppress_ids_begin.clone(),
        alignment_heads: ct2.alignment_heads.clone(),
        converted_from: format!("CTranslate2 {} revision {} (binary version {})", m.spec, m.revision, m.version),
    };
    Ok((out, config))
}

/// Serialises tensors as a safetensors file: a `u64` header length, a JSON
/// header with sorted keys padded with spaces to 8 bytes, then the data in
/// name order.
fn write_safetensors(path: &Path, tensors: &BTreeMap<String, OutTensor>) -> Result<(), String> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, t) in tensors {
        header.insert(
            name.clone(),
            serde_json::json!({ "dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.data.len()] }),
        );
        offset += t.data.len();
    }
    header.insert("__metadata__".into(), serde_json::json!({ "format": "pt" }));
    let mut json = serde_json::to_string(&serde_json::Value::Object(header)).map_err(|e| format!("could not encode the header: {e}"))?;
    while json.len() % 8 != 0 {
        json.push(' ');
    }
    let file = std::fs::File::create(path).map_err(|e| format!("could not create {}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let io = |e: std::io::Error| format!("could not write {}: {e}", path.display());
    w.write_all(&(json.len() as u64).to_le_bytes()).map_err(io)?;
    w.write_all(json.as_bytes()).map_err(io)?;
    for t in tensors.values() {
        w.write_all(&t.data).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Converts the CTranslate2 Whisper model in `raw` (`model.bin`,
/// `ct2-config.json`) into `out/model.safetensors` and `out/config.json`.
///
/// # Errors
///
/// A sentence naming the file and the problem: unreadable, truncated,
/// unknown dtype, not a Whisper model, inconsistent shapes.
pub fn convert_whisper(raw: &Path, out: &Path) -> Result<(), String> {
    let bin_path = raw.join("model.bin");
    let bytes = std::fs::read(&bin_path).map_err(|e| format!("could not read {}: {e}", bin_path.display()))?;
    let model = parse(&bytes).map_err(|e| format!("{}: {e}", bin_path.display()))?;
    let cfg_path = raw.join("ct2-config.json");
    let ct2: Ct2Config = match std::fs::read_to_string(&cfg_path) {
        Ok(s) => serde_json::from_str(&s).map_err(|e| format!("{} is not a CTranslate2 Whisper config: {e}", cfg_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ct2Config::default(),
        Err(e) => return Err(format!("could not read {}: {e}", cfg_path.display())),
    };
    let (tensors, config) = whisper_tensors(&model, &ct2).map_err(|e| format!("{}: {e}", bin_path.display()))?;
    write_safetensors(&out.join("model.safetensors"), &tensors)?;
    let mut json = serde_json::to_string_pretty(&config).map_err(|e| format!("could not encode config.json: {e}"))?;
    json.push('\n');
    let cfg_out = out.join("config.json");
    std::fs::write(&cfg_out, json).map_err(|e| format!("could not write {}: {e}", cfg_out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a CTranslate2 `model.bin` (binary version 6).
    struct Bin(Vec<u8>);

    impl Bin {
        fn new(spec: &str, count: u32) -> Bin {
            let mut b = Bin(Vec::new());
            b.0.extend(6u32.to_le_bytes());
            b.string(spec);
            b.0.extend(3u32.to_le_bytes());
            b.0.extend(count.to_le_bytes());
            b
        }
        fn string(&mut self, s: &str) {
            self.0.extend(((s.len() + 1) as u16).to_le_bytes());
            self.0.extend(s.as_bytes());
            self.0.push(0);
        }
        fn var(&mut self, name: &str, shape: &[u32], dtype: u8, data: &[u8]) {
            self.string(name);
            self.0.push(shape.len() as u8);
            for d in shape {
                self.0.extend(d.to_le_bytes());
            }
            self.0.push(dtype);
            self.0.extend((data.len() as u32).to_le_bytes());
            self.0.extend(data);
        }
        fn f32s(&mut self, name: &str, shape: &[u32], f: impl Fn(usize) -> f32) {
            let n: u32 = shape.iter().product();
            let data: Vec<u8> = (0..n as usize).flat_map(|i| f(i).to_le_bytes()).collect();
            self.var(name, shape, 0, &data);
        }
        fn aliases(&mut self, pairs: &[(&str, &str)]) {
            self.0.extend((pairs.len() as u32).to_le_bytes());
            for (a, t) in pairs {
                self.string(a);
                self.string(t);
            }
        }
    }

    /// A complete tiny Whisper: d = 4, 1 layer each side, 2 mels, vocab 5.
    fn tiny_whisper(int8_fc1: bool) -> Vec<u8> {
        let d = 4u32;
        let mut vars: Vec<(String, Vec<u32>)> = vec![
            ("decoder/embeddings/weight".into(), vec![5, d]),
            ("encoder/conv1/weight".into(), vec![d, 2, 3]),
            ("encoder/conv1/bias".into(), vec![d]),
            ("encoder/conv2/weight".into(), vec![d, d, 3]),
            ("encoder/conv2/bias".into(), vec![d]),
            ("encoder/position_encodings/encodings".into(), vec![6, d]),
            ("decoder/position_encodings/encodings".into(), vec![7, d]),
        ];
        for side in ["encoder", "decoder"] {
            vars.push((format!("{side}/layer_norm/gamma"), vec![d]));
            vars.push((format!("{side}/layer_norm/beta"), vec![d]));
            let l = format!("{side}/layer_0");
            let mut attn = vec!["self_attention".to_string(), "ffn".to_string()];
            if side == "decoder" {
                attn.push("attention".into());
            }
            for a in attn {
                vars.push((format!("{l}/{a}/layer_norm/gamma"), vec![d]));
                vars.push((format!("{l}/{a}/layer_norm/beta"), vec![d]));
            }
            vars.push((format!("{l}/self_attention/linear_0/weight"), vec![3 * d, d]));
            vars.push((format!("{l}/self_attention/linear_0/bias"), vec![3 * d]));
            vars.push((format!("{l}/self_attention/linear_1/weight"), vec![d, d]));
            vars.push((format!("{l}/self_attention/linear_1/bias"), vec![d]));
            if side == "decoder" {
                vars.push((format!("{l}/attention/linear_0/weight"), vec![d, d]));
                vars.push((format!("{l}/attention/linear_0/bias"), vec![d]));
                vars.push((format!("{l}/attention/linear_1/weight"), vec![2 * d, d]));
                vars.push((format!("{l}/attention/linear_1/bias"), vec![2 * d]));
                vars.push((format!("{l}/attention/linear_2/weight"), vec![d, d]));
                vars.push((format!("{l}/attention/linear_2/bias"), vec![d]));
            }
            if !(int8_fc1 && side == "encoder") {
                vars.push((format!("{l}/ffn/linear_0/weight"), vec![4 * d, d]));
            }
            vars.push((format!("{l}/ffn/linear_0/bias"), vec![4 * d]));
            vars.push((format!("{l}/ffn/linear_1/weight"), vec![d, 4 * d]));
            vars.push((format!("{l}/ffn/linear_1/bias"), vec![d]));
        }
        let extra = if int8_fc1 { 2 } else { 0 };
        let mut b = Bin::new("WhisperSpec", vars.len() as u32 + 1 + extra);
        for (name, shape) in &vars {
            b.f32s(name, shape, |i| i as f32 * 0.5);
        }
        b.var("encoder/num_heads", &[], 2, &2i16.to_le_bytes());
        if int8_fc1 {
            let data: Vec<u8> = (0..16 * 4).map(|i| (i as i8 - 32) as u8).collect();
            b.var("encoder/layer_0/ffn/linear_0/weight", &[16, 4], 1, &data);
            let scales: Vec<u8> = (0..16).flat_map(|r| (2.0f32 + r as f32).to_le_bytes()).collect();
            b.var("encoder/layer_0/ffn/linear_0/weight_scale", &[16], 0, &scales);
        }
        b.aliases(&[("decoder/projection/weight", "decoder/embeddings/weight")]);
        b.0
    }

    fn read_safetensors(path: &Path) -> (serde_json::Value, Vec<u8>) {
        let bytes = std::fs::read(path).expect("read safetensors");
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header JSON");
        (header, bytes[8 + n..].to_vec())
    }

    fn tensor_f32(header: &serde_json::Value, data: &[u8], name: &str) -> Vec<f32> {
        let info = &header[name];
        assert_eq!(info["dtype"], "F32", "{name}");
        let a = info["data_offsets"][0].as_u64().expect("offset") as usize;
        let b = info["data_offsets"][1].as_u64().expect("offset") as usize;
        data[a..b].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
    }

    #[test]
    fn converts_a_synthetic_whisper_and_splits_fused_weights() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("model.bin"), tiny_whisper(true)).expect("write");
        std::fs::write(dir.path().join("ct2-config.json"), r#"{"suppress_ids": [1, 2], "suppress_ids_begin": [3]}"#).expect("write");
        convert_whisper(dir.path(), dir.path()).expect("conversion");
        let (header, data) = read_safetensors(&dir.path().join("model.safetensors"));
        // q/k/v rows of the fused [12, 4] weight (values 0, 0.5, 1, ...).
        let q = tensor_f32(&header, &data, "model.encoder.layers.0.self_attn.q_proj.weight");
        let k = tensor_f32(&header, &data, "model.encoder.layers.0.self_attn.k_proj.weight");
        let v = tensor_f32(&header, &data, "model.encoder.layers.0.self_attn.v_proj.weight");
        assert_eq!(q[0], 0.0);
        assert_eq!(k[0], 8.0);
        assert_eq!(v[0], 16.0);
        assert_eq!(header["model.encoder.layers.0.self_attn.k_proj.weight"]["shape"], serde_json::json!([4, 4]));
        assert!(header.get("model.encoder.layers.0.self_attn.k_proj.bias").is_none(), "Whisper's key projection has no bias");
        assert_eq!(tensor_f32(&header, &data, "model.encoder.layers.0.self_attn.v_proj.bias")[0], 4.0);
        let ck = tensor_f32(&header, &data, "model.decoder.layers.0.encoder_attn.k_proj.weight");
        let cv = tensor_f32(&header, &data, "model.decoder.layers.0.encoder_attn.v_proj.weight");
        assert_eq!((ck[0], cv[0]), (0.0, 8.0));
        // int8 dequantized per row: value / scale.
        let fc1 = tensor_f32(&header, &data, "model.encoder.layers.0.fc1.weight");
        assert_eq!(fc1[0], -32.0 / 2.0);
        assert_eq!(fc1[4], -28.0 / 3.0);
        assert!(header.get("model.decoder.layers.0.encoder_attn_layer_norm.weight").is_some());
        let cfg: WhisperConfig =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).expect("config")).expect("config JSON");
        assert_eq!((cfg.d_model, cfg.vocab_size, cfg.num_mel_bins, cfg.encoder_layers), (4, 5, 2, 1));
        assert_eq!((cfg.encoder_attention_heads, cfg.decoder_attention_heads), (2, 1), "decoder heads fall back to d/64 ... min 1");
        assert_eq!((cfg.max_source_positions, cfg.max_target_positions), (6, 7));
        assert_eq!(cfg.suppress_tokens, vec![1, 2]);
        // Deterministic.
        let first = std::fs::read(dir.path().join("model.safetensors")).expect("read");
        convert_whisper(dir.path(), dir.path()).expect("second conversion");
        assert_eq!(first, std::fs::read(dir.path().join("model.safetensors")).expect("read"));
    }

    #[test]
    fn truncated_files_are_clear_errors() {
        let bin = tiny_whisper(false);
        for cut in [0, 3, 10, 30, bin.len() / 2, bin.len() - 1] {
            let err = parse(&bin[..cut]).expect_err("a truncated file must fail");
            assert!(err.contains("truncated"), "cut at {cut}: {err}");
        }
        assert!(parse(&bin).is_ok());
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("model.bin"), &bin[..bin.len() / 3]).expect("write");
        let err = convert_whisper(dir.path(), dir.path()).expect_err("truncated");
        assert!(err.contains("model.bin") && err.contains("truncated"), "{err}");
    }

    #[test]
    fn unknown_dtypes_versions_and_bad_sizes_are_clear_errors() {
        let mut b = Bin::new("WhisperSpec", 1);
        b.var("x", &[2], 9, &[0, 0]);
        b.aliases(&[]);
        let err = parse(&b.0).expect_err("bad dtype");
        assert!(err.contains("unsupported dtype id 9") && err.contains("`x`"), "{err}");

        let mut b = Bin::new("WhisperSpec", 1);
        b.var("x", &[3], 0, &[0; 8]);
        b.aliases(&[]);
        let err = parse(&b.0).expect_err("bad size");
        assert!(err.contains("holds 8 byte(s), expected 12"), "{err}");

        let mut bytes = 99u32.to_le_bytes().to_vec();
        bytes.extend([0; 16]);
        assert!(parse(&bytes).expect_err("bad version").contains("binary version 99"));

        let mut b = Bin::new("WhisperSpec", 0);
        b.aliases(&[("a", "missing")]);
        assert!(parse(&b.0).expect_err("dangling").contains("does not exist"));

        let mut b = Bin::new("TransformerSpec", 0);
        b.aliases(&[]);
        let m = parse(&b.0).expect("parses");
        let err = whisper_tensors(&m, &Ct2Config::default()).expect_err("not whisper");
        assert!(err.contains("not a WhisperSpec"), "{err}");
    }

    #[test]
    fn f16_conversion_is_exact() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
    }
}
