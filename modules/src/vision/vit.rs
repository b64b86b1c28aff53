//! The vision transformer of CLIP (`CLIPVisionTransformer`) and BLIP
//! (`BlipVisionModel`), laid out for CPU throughput ([`Vit`]).
//!
//! candle-transformers' versions are correct but spend most of their time
//! outside the matrix products: each linear layer multiplies a batch of
//! small `(tokens, width)` matrices by a transposed (strided) weight,
//! CLIP's queries, keys and values are three products, the patch embedding
//! is a convolution, and the activation is several element-wise passes.
//! This encoder computes the same function with
//!
//! - every linear layer a [`Dense`]: weight stored `(in, out)`, contiguous,
//!   applied to all tokens of the batch as one 2-D product, with queries,
//!   keys and values as one;
//! - the patch embedding as one product over patches unfolded in parallel
//!   ([`Unfold`]);
//! - CLIP's `quick_gelu` in one parallel pass ([`QuickGelu`]) and candle's
//!   fused layer norm, softmax and erf GELU.
//!
//! The two models differ only in names and small choices, which
//! [`Flavour`] records. Proven against `transformers` by the CLIP and BLIP
//! goldens (`modules/tests/vision/hf_parity.rs`).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use super::dense::Dense;
use rayon::prelude::*;

/// Values per task of the element-wise kernels.
const CHUNK: usize = 1 << 15;

/// The encoder's shape (from the checkpoint's `vision_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
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
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
}

/// `x * sigmoid(1.702 x)` in one pass over contiguous f32 values, in
/// parallel (other inputs are computed with candle's element-wise
/// operations).
pub struct QuickGelu;

impl CustomOp1 for QuickGelu {
    fn name(&self) -> &'static str {
        "quick-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("quick-gelu: expected contiguous f32 values");
        };
        let mut out = values[start..end].to_vec();
        out.par_chunks_mut(CHUNK).for_each(|chunk| {
            for x in chunk {
                *x /= 1.0 + (-1.702 * *x).exp();
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// `quick_gelu(x)`.
fn quick_gelu(x: &Tensor) -> Result<Tensor> {
    if x.dtype() == DType::F32 && x.device().is_cpu() && x.is_contiguous() {
        x.apply_op1_no_bwd(&QuickGelu)
    } else {
        x * candle_nn::ops::sigmoid(&(x * 1.702)?)?
    }
}

/// `(n, c, side * p, side * p)` pixel values to `(n * side * side, c * p * p)`
/// patch rows (patches in raster order, each in the convolution weight's
/// `(c, y, x)` order), copied run by run in parallel. Only for contiguous
/// f32 input; see [`unfold`].
pub struct Unfold {
    /// Patch side, in pixels.
    pub patch: usize,
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "unfold-patches"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("unfold-patches: expected contiguous f32 values");
        };
        let (n, c, height, width) = layout.shape().dims4()?;
        let p = self.patch;
        if p == 0 || height % p != 0 || width % p != 0 {
            candle_core::bail!("unfold-patches: {height}x{width} is not a whole number of {p}-pixel patches");
        }
        let (gy, gx) = (height / p, width / p);
        let src = &values[start..end];
        let row = c * p * p;
        let mut out = vec![0f32; n * gy * gx * row];
        // One task per strip of patches (image i, patch row y).
        out.par_chunks_mut(gx * row).enumerate().for_each(|(strip, dst)| {
            let (i, y) = (strip / gy, strip % gy);
            for x in 0..gx {
                let patch = &mut dst[x * row..(x + 1) * row];
                for ch in 0..c {
                    for dy in 0..p {
                        let from = ((i * c + ch) * height + y * p + dy) * width + x * p;
                        let to = (ch * p + dy) * p;
                        patch[to..to + p].copy_from_slice(&src[from..from + p]);
                    }
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((n * gy * gx, row))))
    }
}

/// Patch rows of `(n, c, h, w)` pixel values (see [`Unfold`]).
fn unfold(pixels: &Tensor, p: usize) -> Result<Tensor> {
    let (n, c, height, width) = pixels.dims4()?;
    if pixels.dtype() == DType::F32 && pixels.device().is_cpu() && pixels.is_contiguous() {
        return pixels.apply_op1_no_bwd(&Unfold { patch: p });
    }
    let (gy, gx) = (height / p, width / p);
    pixels.reshape((n, c, gy, p, gx, p))?.permute((0, 2, 4, 1, 3, 5))?.contiguous()?.reshape((n * gy * gx, c * p * p))
}

/// Which model's encoder: the names and choices that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// CLIP: separate `q_proj`/`k_proj`/`v_proj`, `out_proj`, a norm before
    /// the encoder (`pre_layrnorm`), `quick_gelu`, no patch bias, position
    /// embeddings as an `Embedding`.
    Clip,
    /// BLIP: one `qkv`, `projection`, no norm before the encoder, erf GELU,
    /// a patch bias, position embeddings as a `(1, tokens, width)` parameter.
    Blip,
}

/// One encoder layer.
struct Layer {
    norm1: LayerNorm,
    qkv: Dense,
    out: Dense,
    norm2: LayerNorm,
    fc1: Dense,
    fc2: Dense,
}

/// The vision transformer.
pub struct Vit {
    patch: Dense,
    class_embedding: Tensor,
    positions: Tensor,
    pre_norm: Option<LayerNorm>,
    layers: Vec<Layer>,
    post_norm: LayerNorm,
    flavour: Flavour,
    config: Config,
}

impl Vit {
    /// Loads the encoder from `vb` at `vision_model`.
    ///
    /// # Errors
    ///
    /// A missing or misshapen tensor, named.
    pub fn load(v: &VarBuilder, config: &Config, flavour: Flavour) -> Result<Vit> {
        let c = config;
        let (h, p) = (c.hidden_size, c.patch_size);
        let norm = |vb: VarBuilder| candle_nn::layer_norm(h, c.layer_norm_eps, vb);
        let e = v.pp("embeddings");
        let patch_in = c.num_channels * p * p;
        let weight = e.get((h, c.num_channels, p, p), "patch_embedding.weight")?.reshape((h, patch_in))?.t()?.contiguous()?;
        let bias = if flavour == Flavour::Blip { Some(e.get(h, "patch_embedding.bias")?) } else { None };
        let tokens = (c.image_size / p).pow(2) + 1;
        let (class_embedding, positions) = match flavour {
            Flavour::Clip => (e.get(h, "class_embedding")?, e.get((tokens, h), "position_embedding.weight")?),
            Flavour::Blip => (e.get((1, 1, h), "class_embedding")?, e.get((1, tokens, h), "position_embedding")?),
        };
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let l = v.pp(format!("encoder.layers.{i}"));
                let a = l.pp("self_attn");
                let (qkv, out) = match flavour {
                    Flavour::Clip => {
                        let parts = ["q_proj", "k_proj", "v_proj"]
                            .map(|n| Dense::load(&a.pp(n), h, h, true))
                            .into_iter()
                            .collect::<Result<Vec<_>>>()?;
                        (Dense::fuse(&parts)?, Dense::load(&a.pp("out_proj"), h, h, true)?)
                    }
                    Flavour::Blip => (Dense::load(&a.pp("qkv"), h, 3 * h, true)?, Dense::load(&a.pp("projection"), h, h, true)?),
                };
                Ok(Layer {
                    norm1: norm(l.pp("layer_norm1"))?,
                    qkv,
                    out,
                    norm2: norm(l.pp("layer_norm2"))?,
                    fc1: Dense::load(&l.pp("mlp.fc1"), h, c.intermediate_size, true)?,
                    fc2: Dense::load(&l.pp("mlp.fc2"), c.intermediate_size, h, true)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Vit {
            patch: Dense { weight, bias },
            class_embedding: class_embedding.reshape((1, 1, h))?,
            positions: positions.reshape((1, tokens, h))?,
            pre_norm: if flavour == Flavour::Clip { Some(norm(v.pp("pre_layrnorm"))?) } else { None },
            layers,
            post_norm: norm(v.pp("post_layernorm"))?,
            flavour,
            config: config.clone(),
        })
    }

    /// Tokens per image: the patches and the class token.
    pub fn tokens(&self) -> usize {
        (self.config.image_size / self.config.patch_size).pow(2) + 1
    }

    /// The encoder's output before the final norm, `(n * tokens, width)`
    /// (image by image, class token first), of `(n, channels, image_size,
    /// image_size)` pixel values.
    ///
    /// # Errors
    ///
    /// Pixel values of another shape; a tensor error.
    fn encode(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let (n, channels, height, width) = pixel_values.dims4()?;
        if (channels, height, width) != (c.num_channels, c.image_size, c.image_size) {
            candle_core::bail!(
                "pixel values are {channels}x{height}x{width}, the encoder takes {}x{}x{}",
                c.num_channels,
                c.image_size,
                c.image_size
            );
        }
        let (h, p, tokens) = (c.hidden_size, c.patch_size, self.tokens());
        // The patch embedding (a convolution with stride = kernel) as one product.
        let patches = self.patch.forward(&unfold(pixel_values, p)?)?.reshape((n, tokens - 1, h))?;
        let class = self.class_embedding.broadcast_as((n, 1, h))?;
        let mut x = Tensor::cat(&[&class, &patches], 1)?.broadcast_add(&self.positions)?.reshape((n * tokens, h))?;
        if let Some(norm) = &self.pre_norm {
            x = norm.forward(&x)?;
        }
        let heads = c.num_attention_heads;
        let head = h / heads;
        let scale = 1.0 / (head as f64).sqrt();
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&layer.norm1.forward(&x)?)?.reshape((n, tokens, 3, heads, head))?.permute((2, 0, 3, 1, 4))?;
            let q = (qkv.get(0)?.contiguous()? * scale)?;
            let k = qkv.get(1)?.contiguous()?;
            let v = qkv.get(2)?.contiguous()?;
            let probs = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((n * tokens, h))?;
            x = (layer.out.forward(&context)? + &x)?;
            let up = layer.fc1.forward(&layer.norm2.forward(&x)?)?;
            let hidden = match self.flavour {
                Flavour::Clip => quick_gelu(&up)?,
                Flavour::Blip => up.gelu_erf()?,
            };
            x = (layer.fc2.forward(&hidden)? + &x)?;
        }
        Ok(x)
    }

    /// The final norm of each image's class token, `(n, width)` (CLIP's
    /// pooled output).
    ///
    /// # Errors
    ///
    /// As [`Vit::last_hidden_state`].
    pub fn pooled(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (n, h) = (pixel_values.dim(0)?, self.config.hidden_size);
        let x = self.encode(pixel_values)?.reshape((n, self.tokens(), h))?;
        self.post_norm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?)
    }

    /// The final norm of every token, `(n, tokens, width)` (BLIP's image
    /// features).
    ///
    /// # Errors
    ///
    /// Pixel values of another shape than the config's; a tensor error.
    pub fn last_hidden_state(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (n, h) = (pixel_values.dim(0)?, self.config.hidden_size);
        self.post_norm.forward(&self.encode(pixel_values)?)?.reshape((n, self.tokens(), h))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::{quick_gelu, unfold};

    #[test]
    fn fused_kernels_equal_the_composed_operations() -> candle_core::Result<()> {
        let x = Tensor::randn(0f32, 1.0, (2, 3, 8, 12), &Device::Cpu)?;
        // Unfold: the same rows as reshape + permute.
        let fast = unfold(&x, 4)?;
        let slow = x.reshape((2, 3, 2, 4, 3, 4))?.permute((0, 2, 4, 1, 3, 5))?.contiguous()?.reshape((12, 48))?;
        assert_eq!(fast.to_vec2::<f32>()?, slow.to_vec2::<f32>()?);
        // A strided input takes the composed path.
        assert_eq!(unfold(&x.transpose(2, 3)?, 4)?.dims(), &[12, 48]);
        // quick_gelu: x * sigmoid(1.702 x).
        let fast = quick_gelu(&x)?.flatten_all()?.to_vec1::<f32>()?;
        let slow = (&x * candle_nn::ops::sigmoid(&(&x * 1.702)?)?)?.flatten_all()?.to_vec1::<f32>()?;
        let worst = fast.iter().zip(&slow).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-6, "{worst}");
        Ok(())
    }
}
