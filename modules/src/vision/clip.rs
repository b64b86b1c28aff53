//! CLIP (`CLIPModel`): image and text embeddings in one space, from a
//! standard Hugging Face checkpoint directory (`config.json`,
//! `model.safetensors`, `tokenizer.json`, `preprocessor_config.json`).
//!
//! The text encoder is candle-transformers' [`ClipTextTransformer`]; the
//! image encoder is [`Vit`], the same function laid out for CPU throughput
//! (see its module). This file reads the checkpoint's config
//! (with `transformers`' defaults for what it leaves out), checks what
//! candle would otherwise fill in silently, adds the two projections and
//! pools the text the way `transformers` does (at the first end-of-text
//! token). Frames go through [`ImageProcessor`], texts through the
//! checkpoint's tokenizer, truncated at the model's positions.
//!
//! Proven against PyTorch `transformers` on a tiny random checkpoint and real
//! frames (`modules/tests/hf_parity.rs`, goldens by
//! `scripts/parity/make_goldens.py`).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder};
use candle_transformers::models::clip::text_model::{Activation, ClipTextConfig, ClipTextTransformer};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use vprog_runtime::value::Frame;
use vprog_runtime::ModuleError;

use super::dense::Dense;
use super::preprocess::ImageProcessor;
use super::vit::{self, Flavour, Vit};

/// The text encoder's settings (`text_config`, `transformers`' defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of the encoder.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Longest input, in tokens.
    pub max_position_embeddings: usize,
    /// The MLP's activation; only `quick_gelu` is supported.
    pub hidden_act: String,
    /// Layer-norm epsilon; candle's CLIP uses 1e-5.
    pub layer_norm_eps: f64,
    /// The end-of-text token, where the text is pooled (`2`: the legacy
    /// rule, the highest token id).
    pub eos_token_id: u32,
    /// The padding token.
    pub pad_token_id: Option<u32>,
}

impl Default for TextConfig {
    fn default() -> Self {
        TextConfig {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
            pad_token_id: None,
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
    /// Input channels.
    pub num_channels: usize,
    /// Input side, in pixels.
    pub image_size: usize,
    /// Patch side, in pixels.
    pub patch_size: usize,
    /// The MLP's activation; only `quick_gelu` is supported.
    pub hidden_act: String,
    /// Layer-norm epsilon; candle's CLIP uses 1e-5.
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

/// A `CLIPModel`'s `config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// The text encoder.
    #[serde(default)]
    pub text_config: TextConfig,
    /// The image encoder.
    #[serde(default)]
    pub vision_config: VisionConfig,
    /// Width of the shared embedding space.
    #[serde(default = "default_projection_dim")]
    pub projection_dim: usize,
    /// `logit_scale` before training (the checkpoint stores the trained one).
    #[serde(default = "default_logit_scale")]
    pub logit_scale_init_value: f32,
    /// The model type; must be `clip`.
    #[serde(default)]
    pub model_type: String,
}

fn default_projection_dim() -> usize {
    512
}
fn default_logit_scale() -> f32 {
    2.6592
}

impl Config {
    /// Parses and checks a `config.json`.
    ///
    /// # Errors
    ///
    /// What is wrong, in words: not JSON, another `model_type`, or settings
    /// candle's CLIP does not implement (an activation other than
    /// `quick_gelu`, a layer-norm epsilon other than 1e-5, widths that heads
    /// or patches do not divide).
    pub fn from_json(text: &str) -> Result<Config, String> {
        let c: Config = serde_json::from_str(text).map_err(|e| format!("not a CLIP config: {e}"))?;
        if c.model_type != "clip" {
            return Err(format!("model_type is `{}`, not `clip`", c.model_type));
        }
        for (part, act, eps, width, heads) in [
            (
                "text_config",
                &c.text_config.hidden_act,
                c.text_config.layer_norm_eps,
                c.text_config.hidden_size,
                c.text_config.num_attention_heads,
            ),
            (
                "vision_config",
                &c.vision_config.hidden_act,
                c.vision_config.layer_norm_eps,
                c.vision_config.hidden_size,
                c.vision_config.num_attention_heads,
            ),
        ] {
            if act != "quick_gelu" {
                return Err(format!("{part}.hidden_act `{act}` is not supported (only quick_gelu)"));
            }
            if (eps - 1e-5).abs() > 1e-12 {
                return Err(format!("{part}.layer_norm_eps {eps} is not supported (only 1e-5)"));
            }
            if heads == 0 || width % heads != 0 {
                return Err(format!("{part}: hidden_size {width} is not a multiple of num_attention_heads {heads}"));
            }
        }
        let v = &c.vision_config;
        if v.patch_size == 0 || v.image_size % v.patch_size != 0 {
            return Err(format!("vision_config: image_size {} is not a multiple of patch_size {}", v.image_size, v.patch_size));
        }
        Ok(c)
    }

    fn candle_text(&self) -> ClipTextConfig {
        let t = &self.text_config;
        ClipTextConfig {
            vocab_size: t.vocab_size,
            embed_dim: t.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: t.intermediate_size,
            max_position_embeddings: t.max_position_embeddings,
            pad_with: None,
            num_hidden_layers: t.num_hidden_layers,
            num_attention_heads: t.num_attention_heads,
            projection_dim: self.projection_dim,
        }
    }

    fn vision(&self) -> vit::Config {
        let v = &self.vision_config;
        vit::Config {
            hidden_size: v.hidden_size,
            intermediate_size: v.intermediate_size,
            num_hidden_layers: v.num_hidden_layers,
            num_attention_heads: v.num_attention_heads,
            num_channels: v.num_channels,
            image_size: v.image_size,
            patch_size: v.patch_size,
            layer_norm_eps: v.layer_norm_eps,
        }
    }
}

/// The CLIP network: two encoders and their projections.
pub struct Clip {
    text: ClipTextTransformer,
    vision: Vit,
    visual_projection: Dense,
    text_projection: Linear,
    logit_scale: Tensor,
    eos_token_id: u32,
}

impl Clip {
    /// Builds the network from a checkpoint's tensors.
    ///
    /// # Errors
    ///
    /// A missing tensor or one of the wrong shape, named. candle would fill
    /// a missing `class_embedding` or `logit_scale` with random or default
    /// values; here they are required.
    pub fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Clip> {
        for name in ["vision_model.embeddings.class_embedding", "logit_scale"] {
            if !vb.contains_tensor(name) {
                return Err(candle_core::Error::Msg(format!("cannot find tensor {name}")));
            }
        }
        let text = ClipTextTransformer::new(vb.pp("text_model"), &config.candle_text())?;
        let vision = Vit::load(&vb.pp("vision_model"), &config.vision(), Flavour::Clip)?;
        let visual_projection = Dense::load(&vb.pp("visual_projection"), config.vision_config.hidden_size, config.projection_dim, false)?;
        let text_projection = candle_nn::linear_no_bias(config.text_config.hidden_size, config.projection_dim, vb.pp("text_projection"))?;
        let logit_scale = vb.get((), "logit_scale")?;
        Ok(Clip { text, vision, visual_projection, text_projection, logit_scale, eos_token_id: config.text_config.eos_token_id })
    }

    /// Projected image features (not normalised) of `(n, 3, h, w)` pixel values.
    pub fn image_features(&self, pixel_values: &Tensor) -> candle_core::Result<Tensor> {
        self.visual_projection.forward(&self.vision.pooled(pixel_values)?)
    }

    /// Projected text features (not normalised) of `(n, len)` token ids,
    /// pooled as `transformers` pools: at each row's first end-of-text token,
    /// or at its highest id under the legacy `eos_token_id == 2`.
    pub fn text_features(&self, input_ids: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = self.text.forward_with_mask(input_ids, usize::MAX)?;
        let ids = input_ids.to_dtype(DType::U32)?.to_vec2::<u32>()?;
        let rows = ids
            .iter()
            .enumerate()
            .map(|(b, row)| {
                let at = if self.eos_token_id == 2 {
                    // The first of the highest ids, as torch's argmax.
                    row.iter().enumerate().fold(0, |best, (i, t)| if *t > row[best] { i } else { best })
                } else {
                    row.iter().position(|t| *t == self.eos_token_id).unwrap_or(row.len().saturating_sub(1))
                };
                hidden.i((b, at))?.unsqueeze(0)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        self.text_projection.forward(&Tensor::cat(&rows, 0)?)
    }

    /// The trained temperature, `exp(logit_scale)`.
    pub fn logit_scale(&self) -> candle_core::Result<f32> {
        self.logit_scale.exp()?.to_dtype(DType::F32)?.to_scalar::<f32>()
    }
}

/// Rows scaled to unit length.
pub fn normalise(x: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)
}

/// A CLIP checkpoint directory, loaded: network, tokenizer and image
/// preprocessing.
pub struct ClipCheckpoint {
    /// The network.
    pub model: Clip,
    /// Its config.
    pub config: Config,
    tokenizer: Tokenizer,
    processor: ImageProcessor,
    name: String,
    dir: PathBuf,
}

/// The files of a checkpoint directory that CLIP reads.
pub const FILES: [&str; 4] = ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"];

impl ClipCheckpoint {
    /// Loads the checkpoint in `dir` (named `name` in errors) onto `device`.
    ///
    /// # Errors
    ///
    /// [`ModuleError::BadModel`] naming the file and what is wrong with it:
    /// a missing file, a config candle's CLIP cannot run, a missing or
    /// misshapen tensor, an unreadable tokenizer or preprocessor config.
    pub fn open(name: &str, dir: &Path, device: &Device) -> Result<ClipCheckpoint, ModuleError> {
        let bad = |file: &str, reason: String| ModuleError::BadModel { model: name.to_string(), path: dir.join(file), reason };
        for file in FILES {
            if !dir.join(file).is_file() {
                return Err(bad(
                    file,
                    format!("missing; a CLIP checkpoint directory holds {} (as on the Hugging Face hub)", FILES.join(", ")),
                ));
            }
        }
        let text = std::fs::read_to_string(dir.join("config.json")).map_err(|e| bad("config.json", e.to_string()))?;
        let config = Config::from_json(&text).map_err(|e| bad("config.json", e))?;
        let weights = std::fs::read(dir.join("model.safetensors")).map_err(|e| bad("model.safetensors", e.to_string()))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, device)
            .map_err(|e| bad("model.safetensors", format!("not a safetensors file: {e}")))?;
        let model = Clip::load(vb, &config).map_err(|e| bad("model.safetensors", e.to_string()))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| bad("tokenizer.json", e.to_string()))?;
        let max_length = config.text_config.max_position_embeddings;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length, ..TruncationParams::default() }))
            .map_err(|e| bad("tokenizer.json", e.to_string()))?;
        let pad_id = config.text_config.pad_token_id.unwrap_or(config.text_config.eos_token_id);
        let pad_token = tokenizer.id_to_token(pad_id).unwrap_or_default();
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..PaddingParams::default()
        }));
        let processor =
            ImageProcessor::from_file(&dir.join("preprocessor_config.json")).map_err(|e| bad("preprocessor_config.json", e.to_string()))?;
        Ok(ClipCheckpoint { model, config, tokenizer, processor, name: name.to_string(), dir: dir.to_path_buf() })
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> ModuleError {
        ModuleError::Failed(format!("CLIP `{}` ({}): {what}: {e}", self.name, self.dir.display()))
    }

    /// Token ids of `texts`, padded to the longest and truncated at the
    /// model's positions, as a `(texts, len)` tensor.
    ///
    /// # Errors
    ///
    /// The tokenizer's error.
    pub fn input_ids(&self, texts: &[&str], device: &Device) -> Result<Tensor, ModuleError> {
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| self.failed("tokenizing", e))?;
        let len = enc.first().map_or(0, |e| e.get_ids().len());
        let ids: Vec<u32> = enc.iter().flat_map(|e| e.get_ids().iter().copied()).collect();
        Tensor::from_vec(ids, (texts.len(), len), device).map_err(|e| self.failed("token ids", e))
    }

    /// Model input of `frames` (see [`ImageProcessor::pixel_values`]).
    ///
    /// # Errors
    ///
    /// A frame whose buffer does not match its size.
    pub fn pixel_values(&self, frames: &[Frame], device: &Device) -> Result<Tensor, ModuleError> {
        self.processor.pixel_values(frames, device).map_err(|e| self.failed("preprocessing", e))
    }

    /// Unit-length embeddings of `texts`, `(texts, projection_dim)`.
    ///
    /// # Errors
    ///
    /// A tokenizer or tensor error.
    pub fn embed_texts(&self, texts: &[&str], device: &Device) -> Result<Tensor, ModuleError> {
        let ids = self.input_ids(texts, device)?;
        self.model.text_features(&ids).and_then(|t| normalise(&t)).map_err(|e| self.failed("text encoder", e))
    }

    /// Unit-length embeddings of `frames`, `(frames, projection_dim)`.
    ///
    /// # Errors
    ///
    /// A bad frame or a tensor error.
    pub fn embed_frames(&self, frames: &[Frame], device: &Device) -> Result<Tensor, ModuleError> {
        let pixels = self.pixel_values(frames, device)?;
        self.model.image_features(&pixels).and_then(|t| normalise(&t)).map_err(|e| self.failed("image encoder", e))
    }
}
