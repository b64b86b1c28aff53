//! The TF.js graph operations, as candle tensor code.
//!
//! Tensors stay in TensorFlow's NHWC layout between operations, so shapes,
//! axes and concatenations mean what the graph says. Convolutions with a
//! spatial kernel go through candle's NCHW `conv2d` (permuted in and out);
//! 1×1 convolutions are one matrix product on the NHWC rows; depthwise
//! convolutions are a sum of shifted, per-channel-scaled views (candle's
//! grouped convolution runs one small convolution per channel). Everything
//! here is candle operations only, so it runs on any candle device.

use candle_core::{DType, Tensor, D};

use super::GraphError;

/// TensorFlow's padding schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, zeros split with the smaller half first.
    Same,
    /// No padding: output size `(in - kernel) / stride + 1`.
    Valid,
}

impl Padding {
    /// Output size and `(before, after)` padding along one axis.
    pub fn plan(self, size: usize, kernel: usize, stride: usize) -> Result<(usize, usize, usize), GraphError> {
        match self {
            Padding::Same => {
                let out = size.div_ceil(stride);
                let total = ((out - 1) * stride + kernel).saturating_sub(size);
                Ok((out, total / 2, total - total / 2))
            }
            Padding::Valid => {
                if size < kernel {
                    return Err(GraphError::Shape(format!("a {kernel}-wide VALID window does not fit an axis of {size}")));
                }
                Ok(((size - kernel) / stride + 1, 0, 0))
            }
        }
    }
}

fn dims4(x: &Tensor, what: &str) -> Result<(usize, usize, usize, usize), GraphError> {
    x.dims4().map_err(|_| GraphError::Shape(format!("{what} needs a rank-4 NHWC tensor, got {:?}", x.dims())))
}

/// `Conv2D`: `x` NHWC, `w` HWIO (`[kh, kw, in, out]`).
pub fn conv2d(x: &Tensor, w: &Tensor, stride: (usize, usize), padding: Padding) -> Result<Tensor, GraphError> {
    let (n, h, wd, c) = dims4(x, "Conv2D")?;
    let (kh, kw, ci, co) = dims4(w, "a Conv2D filter")?;
    if ci != c {
        return Err(GraphError::Shape(format!("Conv2D filter takes {ci} channels, the input has {c}")));
    }
    if kh == 1 && kw == 1 && stride == (1, 1) {
        let rows = x.contiguous()?.reshape((n * h * wd, c))?;
        return Ok(rows.matmul(&w.reshape((ci, co))?)?.reshape((n, h, wd, co))?);
    }
    if stride.0 != stride.1 {
        return Err(GraphError::Unsupported(format!("Conv2D with unequal strides {stride:?}")));
    }
    let (_, top, bottom) = padding.plan(h, kh, stride.0)?;
    let (_, left, right) = padding.plan(wd, kw, stride.1)?;
    let x = x.pad_with_zeros(1, top, bottom)?.pad_with_zeros(2, left, right)?.permute((0, 3, 1, 2))?;
    let k = w.permute((3, 2, 0, 1))?.contiguous()?;
    Ok(x.conv2d(&k, 0, stride.0, 1, 1)?.permute((0, 2, 3, 1))?)
}

/// `DepthwiseConv2dNative`: `x` NHWC, `w` `[kh, kw, channels, 1]`.
///
/// Each output pixel is `Σ_{ky,kx} x[y*s + ky, x*s + kx, c] · w[ky, kx, c]`
/// over the padded input. The padded input is reshaped to
/// `[n, H/s, s, W/s, s, c]`, where input row `y*s + ky` is
/// `[y + ky/s, ky % s]`, so every tap is a strided view and the whole
/// convolution is `kh·kw` broadcast multiply-adds.
pub fn depthwise_conv2d(x: &Tensor, w: &Tensor, stride: (usize, usize), padding: Padding) -> Result<Tensor, GraphError> {
    let (n, h, wd, c) = dims4(x, "DepthwiseConv2dNative")?;
    let (kh, kw, ci, mult) = dims4(w, "a depthwise filter")?;
    if ci != c || mult != 1 {
        return Err(GraphError::Unsupported(format!("a depthwise filter {:?} on {c} channels (only multiplier 1 is supported)", w.dims())));
    }
    let (sh, sw) = stride;
    let (oh, top, _) = padding.plan(h, kh, sh)?;
    let (ow, left, _) = padding.plan(wd, kw, sw)?;
    // Padded extents: multiples of the stride that hold every tap.
    let ph = (oh + (kh - 1) / sh) * sh;
    let pw = (ow + (kw - 1) / sw) * sw;
    let ph = ph.max((h + top).div_ceil(sh) * sh);
    let pw = pw.max((wd + left).div_ceil(sw) * sw);
    let x = x.pad_with_zeros(1, top, ph - h - top)?.pad_with_zeros(2, left, pw - wd - left)?;
    let x = x.reshape((n, ph / sh, sh, pw / sw, sw, c))?;
    let w = w.reshape((kh, kw, c))?;
    let mut acc: Option<Tensor> = None;
    for ky in 0..kh {
        for kx in 0..kw {
            let tap =
                x.narrow(1, ky / sh, oh)?.narrow(2, ky % sh, 1)?.narrow(3, kx / sw, ow)?.narrow(4, kx % sw, 1)?.squeeze(4)?.squeeze(2)?;
            let term = tap.broadcast_mul(&w.get(ky)?.get(kx)?)?;
            acc = Some(match acc {
                None => term,
                Some(a) => (a + term)?,
            });
        }
    }
    acc.ok_or_else(|| GraphError::Shape("an empty depthwise filter".into()))
}

/// `Conv2DBackpropInput` (transposed convolution) to `out` = `[h, w]`:
/// `x` NHWC, `w` `[kh, kw, out_channels, in_channels]`.
///
/// The full transposed output is `(in - 1)·s + k` wide; TensorFlow's
/// padding crops the `before` half of the forward convolution's padding
/// from its start.
pub fn conv2d_transpose(
    x: &Tensor,
    w: &Tensor,
    out: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
) -> Result<Tensor, GraphError> {
    let (_, h, wd, c) = dims4(x, "Conv2DBackpropInput")?;
    let (kh, kw, _, ci) = dims4(w, "a transposed-convolution filter")?;
    if ci != c || stride.0 != stride.1 {
        return Err(GraphError::Unsupported(format!(
            "a transposed convolution of {:?} by {:?} with strides {stride:?}",
            x.dims(),
            w.dims()
        )));
    }
    let (_, top, _) = padding.plan(out.0, kh, stride.0)?;
    let (_, left, _) = padding.plan(out.1, kw, stride.1)?;
    let full = x.permute((0, 3, 1, 2))?.conv_transpose2d(&w.permute((3, 2, 0, 1))?.contiguous()?, 0, 0, stride.0, 1)?;
    let (fh, fw) = ((h - 1) * stride.0 + kh, (wd - 1) * stride.1 + kw);
    if top + out.0 > fh || left + out.1 > fw {
        return Err(GraphError::Shape(format!("a transposed convolution cannot give {out:?} from {h}x{wd}")));
    }
    Ok(full.narrow(2, top, out.0)?.narrow(3, left, out.1)?.permute((0, 2, 3, 1))?)
}

/// `MaxPool` / `AvgPool` over NHWC.
pub fn pool(x: &Tensor, kernel: (usize, usize), stride: (usize, usize), padding: Padding, max: bool) -> Result<Tensor, GraphError> {
    let (_, h, wd, _) = dims4(x, "a pool")?;
    let (_, top, bottom) = padding.plan(h, kernel.0, stride.0)?;
    let (_, left, right) = padding.plan(wd, kernel.1, stride.1)?;
    let x = if top + bottom + left + right == 0 {
        x.clone()
    } else if max {
        // TensorFlow's max pool ignores padded cells; repeating the edge gives the same maximum.
        x.pad_with_same(1, top, bottom)?.pad_with_same(2, left, right)?
    } else {
        return Err(GraphError::Unsupported("AvgPool with SAME padding (TensorFlow excludes the padding from the mean)".into()));
    };
    let x = x.permute((0, 3, 1, 2))?;
    let y = if max { x.max_pool2d_with_stride(kernel, stride)? } else { x.avg_pool2d_with_stride(kernel, stride)? };
    Ok(y.permute((0, 2, 3, 1))?)
}

/// The source rows of a bilinear resize along one axis, as TF.js's CPU
/// kernel computes them (coordinates in f64): `(low, high, fraction)` per
/// output index.
pub fn resize_taps(input: usize, output: usize, align_corners: bool, half_pixel_centers: bool) -> Vec<(usize, usize, f64)> {
    let ratio = if align_corners && output > 1 { (input as f64 - 1.0) / (output as f64 - 1.0) } else { input as f64 / output as f64 };
    (0..output)
        .map(|o| {
            let src = if half_pixel_centers { ratio * (o as f64 + 0.5) - 0.5 } else { ratio * o as f64 };
            let low = src.floor().max(0.0);
            let high = src.ceil().min(input as f64 - 1.0).max(0.0);
            (low as usize, high as usize, src - low)
        })
        .collect()
}

/// Bilinear resize of a packed row-major `width × height × channels`
/// image to `out_w × out_h`, with TensorFlow's legacy coordinates
/// (`src = dst · in / out`, no half-pixel offset), columns first then rows,
/// in f64 as TF.js's CPU kernel computes it, stored as f32.
pub fn resize_legacy_packed<T: Copy + Into<f64>>(
    data: &[T],
    width: usize,
    height: usize,
    channels: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<f32> {
    let cols = resize_taps(width, out_w, false, false);
    let rows = resize_taps(height, out_h, false, false);
    let px = |y: usize, x: usize, c: usize| data[(y * width + x) * channels + c].into();
    let mut out = Vec::with_capacity(out_w * out_h * channels);
    for &(y0, y1, fy) in &rows {
        for &(x0, x1, fx) in &cols {
            for c in 0..channels {
                let top = px(y0, x0, c) + (px(y0, x1, c) - px(y0, x0, c)) * fx;
                let bottom = px(y1, x0, c) + (px(y1, x1, c) - px(y1, x0, c)) * fx;
                out.push((top + (bottom - top) * fy) as f32);
            }
        }
    }
    out
}

/// `ResizeBilinear` of NHWC `x` to `size` = `[h, w]` (columns first, then
/// rows, as TF.js does).
pub fn resize_bilinear(x: &Tensor, size: (usize, usize), align_corners: bool, half_pixel_centers: bool) -> Result<Tensor, GraphError> {
    let (_, h, w, _) = dims4(x, "ResizeBilinear")?;
    let x = lerp_axis(x, 2, &resize_taps(w, size.1, align_corners, half_pixel_centers))?;
    lerp_axis(&x, 1, &resize_taps(h, size.0, align_corners, half_pixel_centers))
}

fn lerp_axis(x: &Tensor, axis: usize, taps: &[(usize, usize, f64)]) -> Result<Tensor, GraphError> {
    let device = x.device();
    let low = Tensor::from_iter(taps.iter().map(|t| t.0 as u32), device)?;
    let high = Tensor::from_iter(taps.iter().map(|t| t.1 as u32), device)?;
    let mut shape = vec![1usize; x.rank()];
    shape[axis] = taps.len();
    let frac = Tensor::from_iter(taps.iter().map(|t| t.2 as f32), device)?.reshape(shape)?;
    let a = x.index_select(&low, axis)?;
    let b = x.index_select(&high, axis)?;
    Ok((&a + (b - &a)?.broadcast_mul(&frac)?)?)
}

/// `Mean` over `axes` (negative axes count from the end).
pub fn mean(x: &Tensor, axes: &[i64], keep_dims: bool) -> Result<Tensor, GraphError> {
    let mut axes = axes.iter().map(|&a| axis(a, x.rank())).collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    let mut y = x.clone();
    for &a in axes.iter().rev() {
        y = if keep_dims { y.mean_keepdim(a)? } else { y.mean(a)? };
    }
    Ok(y)
}

/// A TensorFlow axis (possibly negative) as an index.
pub fn axis(a: i64, rank: usize) -> Result<usize, GraphError> {
    let r = rank as i64;
    if a < -r || a >= r.max(1) {
        return Err(GraphError::Shape(format!("axis {a} is out of range for rank {rank}")));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

/// `Reshape` to `shape`, where one entry may be −1.
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor, GraphError> {
    let total = x.elem_count();
    let known: i64 = shape.iter().filter(|&&d| d >= 0).product();
    let dims = shape
        .iter()
        .map(|&d| match d {
            -1 if known > 0 => Ok(total / known as usize),
            d if d >= 0 => Ok(d as usize),
            _ => Err(GraphError::Shape(format!("Reshape to {shape:?}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if dims.iter().product::<usize>() != total {
        return Err(GraphError::Shape(format!("cannot reshape {:?} to {shape:?}", x.dims())));
    }
    Ok(x.contiguous()?.reshape(dims)?)
}

/// `Pad` / `PadV2` with `paddings` = `[rank, 2]` and a constant fill.
pub fn pad(x: &Tensor, paddings: &[i64], fill: f32) -> Result<Tensor, GraphError> {
    if paddings.len() != 2 * x.rank() || paddings.iter().any(|&p| p < 0) {
        return Err(GraphError::Shape(format!("paddings {paddings:?} for a rank-{} tensor", x.rank())));
    }
    let mut y = if fill == 0.0 { x.clone() } else { (x - f64::from(fill))? };
    for (d, p) in paddings.chunks_exact(2).enumerate() {
        y = y.pad_with_zeros(d, p[0] as usize, p[1] as usize)?;
    }
    Ok(if fill == 0.0 { y } else { (y + f64::from(fill))? })
}

/// `LeakyRelu`: `max(x, alpha·x)` for `alpha` in [0, 1].
pub fn leaky_relu(x: &Tensor, alpha: f32) -> Result<Tensor, GraphError> {
    Ok(x.maximum(&(x * f64::from(alpha))?)?)
}

/// `Relu6`.
pub fn relu6(x: &Tensor) -> Result<Tensor, GraphError> {
    Ok(x.clamp(0f32, 6f32)?)
}

/// `Sigmoid`.
pub fn sigmoid(x: &Tensor) -> Result<Tensor, GraphError> {
    Ok(candle_nn::ops::sigmoid(x)?)
}

/// Softmax over the last axis.
pub fn softmax_last(x: &Tensor) -> Result<Tensor, GraphError> {
    Ok(candle_nn::ops::softmax(x, D::Minus1)?)
}

/// Packed RGB24 → `[1, h, w, 3]` f32.
pub fn rgb_tensor(rgb: &[u8], width: usize, height: usize, device: &candle_core::Device) -> Result<Tensor, GraphError> {
    if rgb.len() != width * height * 3 {
        return Err(GraphError::Shape(format!("{} bytes are not a {width}x{height} RGB image", rgb.len())));
    }
    Ok(Tensor::from_slice(rgb, (1, height, width, 3), device)?.to_dtype(DType::F32)?)
}
