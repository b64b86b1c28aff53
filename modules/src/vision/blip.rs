//! BLIP image captioning (`BlipForConditionalGeneration`) from a standard
//! Hugging Face checkpoint directory (`config.json`, `model.safetensors`,
//! `tokenizer.json`, `preprocessor_config.json`).
//!
//! The image encoder is [`Vit`] (shared with CLIP); the text decoder is
//! [`super::blip_text`], which decodes a batch and computes the image's
//! cross-attention keys and values once per caption. This file reads the
//! checkpoint's config (with `transformers`' defaults for what it leaves out), restores the output layer `transformers` ties to the word
//! embeddings and does not save, and decodes greedily the way
//! `BlipForConditionalGeneration.generate` does: the decoder starts from
//! `bos_token_id` (`[DEC]`), continues an optional prompt (tokenised with
//! `[CLS]` replaced by `[DEC]` and the final `[SEP]` dropped), and stops at
//! `sep_token_id`. A batch decodes together; a caption that has ended waits,
//! as in `transformers`, without changing the others.
//!
//! Proven against PyTorch `transformers` on a tiny random checkpoint and real
//! frames (`modules/tests/vision/hf_parity.rs`, goldens by
//! `scripts/parity/make_goldens.py`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::VarBuilder;
use serde::Deserialize;
use tokenizers::Tokenizer;
use vprog_runtime::value::Frame;
use vprog_runtime::ModuleError;

use super::blip_text::{Config as DecoderConfig, TextDecoder};
use super::preprocess::ImageProcessor;
use super::vit::{self, Flavour, Vit};

/// The text decoder's settings (`text_config`, `transformers`' defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    /// Tokens in the vocabulary (bert-base-uncased's 30522, `[DEC]`, `[ENC]`).
    pub vocab_size: usize,
    /// Width of the decoder.
    pub hidden_size: usize,
    /// Width of the image features it attends to.
    pub encoder_hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Longest sequence, in tokens.
    pub max_position_embeddings: usize,
    /// The activation; `gelu` (erf) or `gelu_new` / `gelu_pytorch_tanh`.
    pub hidden_act: String,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// The decoder's first token (`[DEC]`).
    pub bos_token_id: u32,
    /// The token that ends a caption (`[SEP]`).
    pub sep_token_id: u32,
    /// The token an ended caption is padded with.
    pub pad_token_id: u32,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            vocab_size: 30524,
            hidden_size: 768,
            encoder_hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 512,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-12,
            bos_token_id: 30522,
            sep_token_id: 102,
            pad_token_id: 0,
        }
    }
}

/// The image encoder's settings (`vision_config`, `transformers`' defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    /// Width of the encoder.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Input side, in pixels.
    pub image_size: usize,
    /// Patch side, in pixels.
    pub patch_size: usize,
    /// The activation (as [`TextConfig::hidden_act`]).
    pub hidden_act: String,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            image_size: 384,
            patch_size: 16,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

/// A `BlipForConditionalGeneration`'s `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// The text decoder.
    #[serde(default)]
    pub text_config: TextConfig,
    /// The image encoder.
    #[serde(default)]
    pub vision_config: VisionConfig,
    /// The model type; must be `blip`.
    #[serde(default)]
    pub model_type: String,
}

/// The candle activation for a `transformers` `hidden_act`.
fn activation(part: &str, act: &str) -> Result<candle_nn::Activation, String> {
    match act {
        "gelu" => Ok(candle_nn::Activation::Gelu),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(candle_nn::Activation::NewGelu),
        other => Err(format!("{part}.hidden_act `{other}` is not supported (gelu, gelu_new, gelu_pytorch_tanh)")),
    }
}

impl Config {
    /// Parses and checks a `config.json`.
    ///
    /// # Errors
    ///
    /// What is wrong, in words: not JSON, another `model_type`, an
    /// unsupported activation, widths that heads or patches do not divide,
    /// special tokens outside the vocabulary.
    pub fn from_json(text: &str) -> Result<Config, String> {
        let c: Config = serde_json::from_str(text).map_err(|e| format!("not a BLIP config: {e}"))?;
        if c.model_type != "blip" {
            return Err(format!("model_type is `{}`, not `blip`", c.model_type));
        }
        let (t, v) = (&c.text_config, &c.vision_config);
        activation("text_config", &t.hidden_act)?;
        if v.hidden_act != "gelu" {
            return Err(format!("vision_config.hidden_act `{}` is not supported (only gelu)", v.hidden_act));
        }
        for (part, width, heads) in
            [("text_config", t.hidden_size, t.num_attention_heads), ("vision_config", v.hidden_size, v.num_attention_heads)]
        {
            if heads == 0 || width % heads != 0 {
                return Err(format!("{part}: hidden_size {width} is not a multiple of num_attention_heads {heads}"));
            }
        }
        if v.patch_size == 0 || v.image_size % v.patch_size != 0 {
            return Err(format!("vision_config: image_size {} is not a multiple of patch_size {}", v.image_size, v.patch_size));
        }
        if t.encoder_hidden_size != v.hidden_size {
            return Err(format!(
                "text_config.encoder_hidden_size {} differs from vision_config.hidden_size {}",
                t.encoder_hidden_size, v.hidden_size
            ));
        }
        for (name, id) in [("bos_token_id", t.bos_token_id), ("sep_token_id", t.sep_token_id), ("pad_token_id", t.pad_token_id)] {
            if id as usize >= t.vocab_size {
                return Err(format!("text_config.{name} {id} is outside the vocabulary ({} tokens)", t.vocab_size));
            }
        }
        Ok(c)
    }

    /// The image encoder's shape.
    fn vision(&self) -> vit::Config {
        let v = &self.vision_config;
        vit::Config {
            hidden_size: v.hidden_size,
            intermediate_size: v.intermediate_size,
            num_hidden_layers: v.num_hidden_layers,
            num_attention_heads: v.num_attention_heads,
            num_channels: 3,
            image_size: v.image_size,
            patch_size: v.patch_size,
            layer_norm_eps: v.layer_norm_eps,
        }
    }

    /// The text decoder's shape (checked by [`Config::from_json`]).
    fn decoder(&self) -> Result<DecoderConfig, String> {
        let t = &self.text_config;
        Ok(DecoderConfig {
            vocab_size: t.vocab_size,
            hidden_size: t.hidden_size,
            encoder_hidden_size: t.encoder_hidden_size,
            intermediate_size: t.intermediate_size,
            num_hidden_layers: t.num_hidden_layers,
            num_attention_heads: t.num_attention_heads,
            max_position_embeddings: t.max_position_embeddings,
            hidden_act: activation("text_config", &t.hidden_act)?,
            layer_norm_eps: t.layer_norm_eps,
        })
    }
}

/// Pairs of tensors `transformers` ties together and may save only one of;
/// the other is restored from it.
pub const TIED: [(&str, &str); 2] = [
    ("text_decoder.cls.predictions.decoder.weight", "text_decoder.bert.embeddings.word_embeddings.weight"),
    ("text_decoder.cls.predictions.decoder.bias", "text_decoder.cls.predictions.bias"),
];

/// How a caption is decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoding {
    /// Most tokens generated after the prompt.
    pub max_new_tokens: usize,
    /// The token that ends a caption (the config's `sep_token_id`).
    pub end_token: u32,
}

/// The BLIP captioning network.
pub struct Blip {
    vision: Vit,
    decoder: TextDecoder,
    config: Config,
}

impl Blip {
    /// Builds the network from a checkpoint's tensors (tied tensors already
    /// restored, see [`TIED`]).
    ///
    /// # Errors
    ///
    /// A missing tensor or one of the wrong shape, named; a config candle's
    /// BLIP cannot run.
    pub fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Blip> {
        let decoder = TextDecoder::load(vb.pp("text_decoder"), &config.decoder().map_err(candle_core::Error::Msg)?)?;
        let vision = Vit::load(&vb.pp("vision_model"), &config.vision(), Flavour::Blip)?;
        Ok(Blip { vision, decoder, config: config.clone() })
    }

    /// The image encoder's last hidden state, `(n, patches + 1, width)`, of
    /// `(n, 3, h, w)` pixel values.
    pub fn image_embeds(&self, pixel_values: &Tensor) -> candle_core::Result<Tensor> {
        self.vision.last_hidden_state(pixel_values)
    }

    /// The decoder's logits, `(n, len, vocab)`, for `input_ids` `(n, len)`
    /// from the start (no earlier tokens).
    pub fn logits(&self, input_ids: &Tensor, image_embeds: &Tensor) -> candle_core::Result<Tensor> {
        let mut cache = self.decoder.start(image_embeds)?;
        self.decoder.forward(input_ids, &mut cache)
    }

    /// Greedy captions of `image_embeds` (one per row), each continuing
    /// `prompt` (token ids after `[DEC]`): the generated ids, without the
    /// prompt and the end token.
    ///
    /// # Errors
    ///
    /// A tensor error, or a prompt and caption longer than the model's
    /// positions.
    pub fn generate(&self, image_embeds: &Tensor, prompt: &[u32], decoding: &Decoding) -> candle_core::Result<Vec<Vec<u32>>> {
        let n = image_embeds.dim(0)?;
        let positions = self.config.text_config.max_position_embeddings;
        if 1 + prompt.len() + decoding.max_new_tokens > positions {
            candle_core::bail!(
                "a prompt of {} tokens and {} new tokens exceed the decoder's {positions} positions",
                prompt.len(),
                decoding.max_new_tokens
            );
        }
        let mut start = vec![self.config.text_config.bos_token_id];
        start.extend_from_slice(prompt);
        let rows: Vec<u32> = (0..n).flat_map(|_| start.iter().copied()).collect();
        let mut input = Tensor::from_vec(rows, (n, start.len()), image_embeds.device())?;
        let mut cache = self.decoder.start(image_embeds)?;
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut done = vec![false; n];
        for _ in 0..decoding.max_new_tokens {
            let logits = self.decoder.forward(&input, &mut cache)?;
            let last = logits.i((.., logits.dim(1)? - 1, ..))?;
            let best = last.argmax(D::Minus1)?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
            let mut next = Vec::with_capacity(n);
            for (row, &t) in best.iter().enumerate() {
                if done[row] {
                    next.push(self.config.text_config.pad_token_id);
                } else if t == decoding.end_token {
                    done[row] = true;
                    next.push(t);
                } else {
                    out[row].push(t);
                    next.push(t);
                }
            }
            if done.iter().all(|d| *d) {
                break;
            }
            input = Tensor::from_vec(next, (n, 1), image_embeds.device())?;
        }
        Ok(out)
    }
}

/// A BLIP checkpoint directory, loaded: network, tokenizer and image
/// preprocessing.
pub struct BlipCheckpoint {
    /// The network.
    pub model: Blip,
    /// Its config.
    pub config: Config,
    tokenizer: Tokenizer,
    processor: ImageProcessor,
    name: String,
    dir: PathBuf,
}

/// The files of a checkpoint directory that BLIP reads.
pub const FILES: [&str; 4] = ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"];

impl BlipCheckpoint {
    /// Loads the checkpoint in `dir` (named `name` in errors) onto `device`.
    ///
    /// # Errors
    ///
    /// [`ModuleError::BadModel`] naming the file and what is wrong with it:
    /// a missing file, a config candle's BLIP cannot run, a missing or
    /// misshapen tensor, an unreadable tokenizer or preprocessor config.
    pub fn open(name: &str, dir: &Path, device: &Device) -> Result<BlipCheckpoint, ModuleError> {
        let bad = |file: &str, reason: String| ModuleError::BadModel { model: name.to_string(), path: dir.join(file), reason };
        for file in FILES {
            if !dir.join(file).is_file() {
                return Err(bad(
                    file,
                    format!("missing; a BLIP checkpoint directory holds {} (as on the Hugging Face hub)", FILES.join(", ")),
                ));
            }
        }
        let text = std::fs::read_to_string(dir.join("config.json")).map_err(|e| bad("config.json", e.to_string()))?;
        let config = Config::from_json(&text).map_err(|e| bad("config.json", e))?;
        let weights = std::fs::read(dir.join("model.safetensors")).map_err(|e| bad("model.safetensors", e.to_string()))?;
        let mut tensors: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(&weights, device)
            .map_err(|e| bad("model.safetensors", format!("not a safetensors file: {e}")))?;
        for (a, b) in TIED {
            match (tensors.get(a).cloned(), tensors.get(b).cloned()) {
                (None, Some(t)) => drop(tensors.insert(a.to_string(), t)),
                (Some(t), None) => drop(tensors.insert(b.to_string(), t)),
                _ => {}
            }
        }
        for t in tensors.values_mut() {
            if t.dtype() != DType::F32 {
                *t = t.to_dtype(DType::F32).map_err(|e| bad("model.safetensors", e.to_string()))?;
            }
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let model = Blip::load(vb, &config).map_err(|e| bad("model.safetensors", e.to_string()))?;
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| bad("tokenizer.json", e.to_string()))?;
        let processor =
            ImageProcessor::from_file(&dir.join("preprocessor_config.json")).map_err(|e| bad("preprocessor_config.json", e.to_string()))?;
        Ok(BlipCheckpoint { model, config, tokenizer, processor, name: name.to_string(), dir: dir.to_path_buf() })
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> ModuleError {
        ModuleError::Failed(format!("BLIP `{}` ({}): {what}: {e}", self.name, self.dir.display()))
    }

    /// The decoding `transformers` does by default, with at most
    /// `max_new_tokens` new tokens.
    pub fn decoding(&self, max_new_tokens: usize) -> Decoding {
        Decoding { max_new_tokens, end_token: self.config.text_config.sep_token_id }
    }

    /// A prompt's token ids as the decoder continues it: tokenised with the
    /// special tokens, the leading `[CLS]` (replaced by `[DEC]`) and the
    /// final `[SEP]` dropped. Empty for an empty prompt.
    ///
    /// # Errors
    ///
    /// The tokenizer's error.
    pub fn prompt_ids(&self, prompt: &str) -> Result<Vec<u32>, ModuleError> {
        if prompt.trim().is_empty() {
            return Ok(Vec::new());
        }
        let enc = self.tokenizer.encode(prompt, true).map_err(|e| self.failed("tokenizing the prompt", e))?;
        let ids = enc.get_ids();
        Ok(ids.get(1..ids.len().saturating_sub(1)).unwrap_or_default().to_vec())
    }

    /// Model input of `frames` (see [`ImageProcessor::pixel_values`]).
    ///
    /// # Errors
    ///
    /// A frame whose buffer does not match its size.
    pub fn pixel_values(&self, frames: &[Frame], device: &Device) -> Result<Tensor, ModuleError> {
        self.processor.pixel_values(frames, device).map_err(|e| self.failed("preprocessing", e))
    }

    /// Text of generated ids, special tokens skipped.
    ///
    /// # Errors
    ///
    /// The tokenizer's error.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModuleError> {
        self.tokenizer.decode(ids, true).map_err(|e| self.failed("decoding", e))
    }

    /// Captions of `frames`, one batch: each continues `prompt` (its text is
    /// included, as `transformers` decodes it).
    ///
    /// # Errors
    ///
    /// A bad frame, a tokenizer or tensor error.
    pub fn caption(&self, frames: &[Frame], prompt: &str, max_new_tokens: usize, device: &Device) -> Result<Vec<String>, ModuleError> {
        let prompt_ids = self.prompt_ids(prompt)?;
        let pixels = self.pixel_values(frames, device)?;
        let embeds = self.model.image_embeds(&pixels).map_err(|e| self.failed("image encoder", e))?;
        let ids = self.model.generate(&embeds, &prompt_ids, &self.decoding(max_new_tokens)).map_err(|e| self.failed("text decoder", e))?;
        ids.iter()
            .map(|caption| {
                let mut all = prompt_ids.clone();
                all.extend_from_slice(caption);
                self.decode(&all)
            })
            .collect()
    }
}
