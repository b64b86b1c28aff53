//! CLIP's image encoder (`CLIPVisionTransformer` plus `visual_projection`),
//! laid out for CPU throughput.
//!
//! candle-transformers' CLIP image encoder is correct but spends most of its
//! time outside the matrix products: each linear layer multiplies a batch of
//! small `(tokens, width)` matrices by a transposed (strided) weight,
//! queries, keys and values are three products, the patch embedding is a
//! convolution, and the activation is three element-wise passes. This
//! encoder computes the same function with
//!
//! - weights stored once as contiguous `(in, out)` matrices, so every
//!   product reads both operands in order (1.6x the GFLOP/s of a transposed
//!   weight, measured on the base width);
//! - every linear layer applied to all tokens of the batch as one 2-D
//!   product, with queries, keys and values fused into one;
//! - the patch embedding as one product over the unfolded patches;
//! - `quick_gelu` in one pass ([`QuickGelu`]) and candle's fused layer norm
//!   and softmax.
//!
//! Proven against `transformers` by the same goldens as the rest of CLIP
//! (`modules/tests/vision/hf_parity.rs`).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use rayon::prelude::*;

/// Values per task of the element-wise kernels.
const CHUNK: usize = 1 << 15;

/// The encoder's shape (from the checkpoint's `vision_config` and
/// `projection_dim`).
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
    /// Width of the shared embedding space.
    pub projection_dim: usize,
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

/// A linear layer with its weight stored `(in, out)`, contiguous.
struct Dense {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Dense {
    /// Loads `weight` `(out, in)` (and `bias`, when `with_bias`) from `vb`.
    fn load(vb: &VarBuilder, input: usize, output: usize, with_bias: bool) -> Result<Dense> {
        let weight = vb.get((output, input), "weight")?.t()?.contiguous()?;
        let bias = if with_bias { Some(vb.get(output, "bias")?) } else { None };
        Ok(Dense { weight, bias })
    }

    /// Several layers reading the same input as one (queries, keys and
    /// values): weights side by side.
    fn fuse(parts: &[Dense]) -> Result<Dense> {
        let weights: Vec<&Tensor> = parts.iter().map(|p| &p.weight).collect();
        let biases: Option<Vec<&Tensor>> = parts.iter().map(|p| p.bias.as_ref()).collect();
        Ok(Dense { weight: Tensor::cat(&weights, 1)?, bias: biases.map(|b| Tensor::cat(&b, 0)).transpose()? })
    }

    /// `x` `(rows, in)` to `(rows, out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight)?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
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

/// CLIP's image encoder and projection.
pub struct ClipVision {
    patch: Dense,
    class_embedding: Tensor,
    positions: Tensor,
    pre_norm: LayerNorm,
    layers: Vec<Layer>,
    post_norm: LayerNorm,
    projection: Dense,
    config: Config,
}

impl ClipVision {
    /// Loads `vision_model.*` and `visual_projection` from a `CLIPModel`'s
    /// tensors (`vb` at the root).
    ///
    /// # Errors
    ///
    /// A missing or misshapen tensor, named.
    pub fn load(vb: &VarBuilder, config: &Config) -> Result<ClipVision> {
        let c = config;
        let (h, p) = (c.hidden_size, c.patch_size);
        let norm = |vb: VarBuilder| candle_nn::layer_norm(h, c.layer_norm_eps, vb);
        let v = vb.pp("vision_model");
        let e = v.pp("embeddings");
        let patch_in = c.num_channels * p * p;
        let patch = e.get((h, c.num_channels, p, p), "patch_embedding.weight")?.reshape((h, patch_in))?.t()?.contiguous()?;
        let patches = (c.image_size / p).pow(2);
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let l = v.pp(format!("encoder.layers.{i}"));
                let a = l.pp("self_attn");
                let qkv =
                    ["q_proj", "k_proj", "v_proj"].map(|n| Dense::load(&a.pp(n), h, h, true)).into_iter().collect::<Result<Vec<_>>>()?;
                Ok(Layer {
                    norm1: norm(l.pp("layer_norm1"))?,
                    qkv: Dense::fuse(&qkv)?,
                    out: Dense::load(&a.pp("out_proj"), h, h, true)?,
                    norm2: norm(l.pp("layer_norm2"))?,
                    fc1: Dense::load(&l.pp("mlp.fc1"), h, c.intermediate_size, true)?,
                    fc2: Dense::load(&l.pp("mlp.fc2"), c.intermediate_size, h, true)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ClipVision {
            patch: Dense { weight: patch, bias: None },
            class_embedding: e.get(h, "class_embedding")?.reshape((1, 1, h))?,
            positions: e.get((patches + 1, h), "position_embedding.weight")?.unsqueeze(0)?,
            pre_norm: norm(v.pp("pre_layrnorm"))?,
            layers,
            post_norm: norm(v.pp("post_layernorm"))?,
            projection: Dense::load(&vb.pp("visual_projection"), h, c.projection_dim, false)?,
            config: config.clone(),
        })
    }

    /// Projected image features (not normalised), `(n, projection_dim)`, of
    /// `(n, channels, image_size, image_size)` pixel values.
    ///
    /// # Errors
    ///
    /// Pixel values of another shape; a tensor error.
    pub fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
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
        let (h, p, side) = (c.hidden_size, c.patch_size, c.image_size / c.patch_size);
        // The patch embedding (a convolution with stride = kernel) as one product.
        let patches = self.patch.forward(&unfold(pixel_values, p)?)?.reshape((n, side * side, h))?;
        let class = self.class_embedding.broadcast_as((n, 1, h))?;
        let tokens = side * side + 1;
        let x = Tensor::cat(&[&class, &patches], 1)?.broadcast_add(&self.positions)?;
        let mut x = self.pre_norm.forward(&x.reshape((n * tokens, h))?)?;
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
            let hidden = quick_gelu(&layer.fc1.forward(&layer.norm2.forward(&x)?)?)?;
            x = (layer.fc2.forward(&hidden)? + &x)?;
        }
        let pooled = x.reshape((n, tokens, h))?.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?;
        self.projection.forward(&self.post_norm.forward(&pooled)?)
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
