//! BLIP's text decoder (`BlipTextLMHeadModel` in `transformers`): BERT
//! layers with causal self-attention, cross-attention to the image features
//! and a language-model head whose output layer is tied to the word
//! embeddings.
//!
//! candle-transformers' `blip_text` decodes one image at a time (its position
//! embeddings do not broadcast over a batch) and recomputes the
//! cross-attention keys and values of the image at every step. This decoder
//! takes a batch and computes them once per caption, in [`DecoderCache`]
//! (for BLIP base, 24 matrix products of 577 x 768 by 768 x 768 saved per
//! generated token), and applies every linear layer to the whole batch as
//! one product ([`Dense`]).

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, Activation, Embedding, LayerNorm, VarBuilder};

use super::dense::Dense;

/// The decoder's shape, read from the checkpoint's `text_config`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Tokens in the vocabulary.
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
    /// The MLP's and the head's activation.
    pub hidden_act: Activation,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
}

/// Multi-head attention: `query` from the text, `key` and `value` from the
/// text (self-attention) or the image (cross-attention).
struct Attention {
    query: Dense,
    key: Dense,
    value: Dense,
    output: Dense,
    norm: LayerNorm,
    heads: usize,
    scale: f64,
}

impl Attention {
    fn load(vb: VarBuilder, cfg: &Config, kv_width: usize) -> Result<Attention> {
        let h = cfg.hidden_size;
        Ok(Attention {
            query: Dense::load(&vb.pp("self.query"), h, h, true)?,
            key: Dense::load(&vb.pp("self.key"), kv_width, h, true)?,
            value: Dense::load(&vb.pp("self.value"), kv_width, h, true)?,
            output: Dense::load(&vb.pp("output.dense"), h, h, true)?,
            norm: layer_norm(h, cfg.layer_norm_eps, vb.pp("output.LayerNorm"))?,
            heads: cfg.num_attention_heads,
            scale: 1.0 / ((h / cfg.num_attention_heads) as f64).sqrt(),
        })
    }

    /// `(b, len, width)` to `(b, heads, len, width / heads)`, contiguous.
    fn split(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, len, width) = xs.dims3()?;
        xs.reshape((b, len, self.heads, width / self.heads))?.transpose(1, 2)?.contiguous()
    }

    /// Keys and values of `xs`, split into heads.
    fn keys_values(&self, xs: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((self.split(&self.key.forward(xs)?)?, self.split(&self.value.forward(xs)?)?))
    }

    /// Attends from `xs` to `keys` and `values`, masked additively by `mask`
    /// (broadcast over batch and heads), then the output projection, the
    /// residual and the norm.
    fn attend(&self, xs: &Tensor, keys: &Tensor, values: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let q = self.split(&self.query.forward(xs)?)?;
        let scores = (q.matmul(&keys.t()?)? * self.scale)?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(values)?.transpose(1, 2)?.flatten_from(D::Minus2)?;
        (self.output.forward(&context)? + xs)?.apply(&self.norm)
    }
}

/// One decoder layer.
struct Layer {
    self_attention: Attention,
    cross_attention: Attention,
    intermediate: Dense,
    output: Dense,
    norm: LayerNorm,
    act: Activation,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Layer> {
        Ok(Layer {
            self_attention: Attention::load(vb.pp("attention"), cfg, cfg.hidden_size)?,
            cross_attention: Attention::load(vb.pp("crossattention"), cfg, cfg.encoder_hidden_size)?,
            intermediate: Dense::load(&vb.pp("intermediate.dense"), cfg.hidden_size, cfg.intermediate_size, true)?,
            output: Dense::load(&vb.pp("output.dense"), cfg.intermediate_size, cfg.hidden_size, true)?,
            norm: layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("output.LayerNorm"))?,
            act: cfg.hidden_act,
        })
    }
}

/// What one batch of captions carries between steps: each layer's
/// self-attention keys and values so far, and its cross-attention keys and
/// values of the image features (computed once).
pub struct DecoderCache {
    past: Vec<Option<(Tensor, Tensor)>>,
    image: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl DecoderCache {
    /// Tokens decoded so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no token has been decoded yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The decoder with its language-model head.
pub struct TextDecoder {
    words: Embedding,
    positions: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    head_dense: Dense,
    head_norm: LayerNorm,
    head_out: Dense,
    act: Activation,
    max_positions: usize,
}

impl TextDecoder {
    /// Loads `text_decoder.*` (`vb` at `text_decoder`). The output layer is
    /// `cls.predictions.decoder.weight`, or the word embeddings it is tied
    /// to when the file leaves it out.
    ///
    /// # Errors
    ///
    /// A missing or misshapen tensor, named.
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<TextDecoder> {
        let bert = vb.pp("bert");
        let words = embedding(cfg.vocab_size, cfg.hidden_size, bert.pp("embeddings.word_embeddings"))?;
        let positions = embedding(cfg.max_position_embeddings, cfg.hidden_size, bert.pp("embeddings.position_embeddings"))?;
        let embed_norm = layer_norm(cfg.hidden_size, cfg.layer_norm_eps, bert.pp("embeddings.LayerNorm"))?;
        let layers =
            (0..cfg.num_hidden_layers).map(|i| Layer::load(bert.pp(format!("encoder.layer.{i}")), cfg)).collect::<Result<Vec<_>>>()?;
        let head = vb.pp("cls.predictions");
        let out_weight = if head.contains_tensor("decoder.weight") {
            head.get((cfg.vocab_size, cfg.hidden_size), "decoder.weight")?
        } else {
            words.embeddings().clone()
        };
        let out_bias = head.get(cfg.vocab_size, "bias")?;
        Ok(TextDecoder {
            words,
            positions,
            embed_norm,
            layers,
            head_dense: Dense::load(&head.pp("transform.dense"), cfg.hidden_size, cfg.hidden_size, true)?,
            head_norm: layer_norm(cfg.hidden_size, cfg.layer_norm_eps, head.pp("transform.LayerNorm"))?,
            head_out: Dense { weight: out_weight.t()?.contiguous()?, bias: Some(out_bias) },
            act: cfg.hidden_act,
            max_positions: cfg.max_position_embeddings,
        })
    }

    /// A fresh cache for captions of `image_embeds` `(b, patches, width)`:
    /// the cross-attention keys and values of every layer.
    ///
    /// # Errors
    ///
    /// A tensor error (an image width the decoder was not built for).
    pub fn start(&self, image_embeds: &Tensor) -> Result<DecoderCache> {
        let image = self.layers.iter().map(|l| l.cross_attention.keys_values(image_embeds)).collect::<Result<Vec<_>>>()?;
        Ok(DecoderCache { past: vec![None; self.layers.len()], image, len: 0 })
    }

    /// Logits `(b, len, vocab)` of the next token after each of `input_ids`
    /// `(b, len)`, which follow the tokens already in `cache`.
    ///
    /// # Errors
    ///
    /// A tensor error, or more tokens than the model's positions.
    pub fn forward(&self, input_ids: &Tensor, cache: &mut DecoderCache) -> Result<Tensor> {
        let (_, len) = input_ids.dims2()?;
        let past = cache.len;
        if past + len > self.max_positions {
            candle_core::bail!("{} tokens exceed the decoder's {} positions", past + len, self.max_positions);
        }
        let device = input_ids.device();
        let position_ids = Tensor::arange(past as u32, (past + len) as u32, device)?;
        let positions = self.positions.forward(&position_ids)?.unsqueeze(0)?;
        let mut xs = self.words.forward(input_ids)?.broadcast_add(&positions)?.apply(&self.embed_norm)?;
        // Causal: token i sees the cached tokens and itself, not later ones.
        let mask = (len > 1)
            .then(|| {
                let m: Vec<f32> =
                    (0..len).flat_map(|i| (0..past + len).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 })).collect();
                Tensor::from_vec(m, (len, past + len), device)
            })
            .transpose()?;
        for (i, layer) in self.layers.iter().enumerate() {
            let (k, v) = layer.self_attention.keys_values(&xs)?;
            let (k, v) = match cache.past[i].take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            let attended = layer.self_attention.attend(&xs, &k, &v, mask.as_ref())?;
            cache.past[i] = Some((k, v));
            let (ik, iv) = &cache.image[i];
            let crossed = layer.cross_attention.attend(&attended, ik, iv, None)?;
            let hidden = layer.intermediate.forward(&crossed)?.apply(&layer.act)?;
            xs = (layer.output.forward(&hidden)? + &crossed)?.apply(&layer.norm)?;
        }
        cache.len += len;
        let h = self.head_dense.forward(&xs)?.apply(&self.act)?.apply(&self.head_norm)?;
        self.head_out.forward(&h)
    }
}
