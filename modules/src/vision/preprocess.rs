//! Image preprocessing as a Hugging Face checkpoint's
//! `preprocessor_config.json` describes it, reproducing `transformers`' PIL
//! backend exactly: resize (Pillow's resampling, 8-bit between the two
//! passes), centre crop (zero-padded when the image is smaller), rescale and
//! normalise.
//!
//! Ports of CLIP, SigLIP and BLIP usually go wrong here: a bilinear resize
//! where the model was trained with a bicubic one, a resize without Pillow's
//! antialiasing, or a crop off by a pixel. [`ImageProcessor::pixel_values`]
//! matches the reference to float rounding on real frames (tested against
//! goldens in `modules/tests/hf_parity.rs`).

use std::path::Path;

use candle_core::{Device, Tensor};
use serde::Deserialize;
use vprog_runtime::value::Frame;

/// Pillow's resampling filters, by the number `preprocessor_config.json`
/// stores (`PIL.Image.Resampling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// `2`: bilinear (a triangle filter).
    Bilinear,
    /// `3`: bicubic (Keys, a = -0.5).
    Bicubic,
}

impl Resample {
    /// The filter for Pillow's number, or `None` for one not supported here
    /// (nearest, box, Hamming, Lanczos).
    pub fn from_pil(n: u32) -> Option<Resample> {
        match n {
            2 => Some(Resample::Bilinear),
            3 => Some(Resample::Bicubic),
            _ => None,
        }
    }

    /// Half the filter's width at scale 1.
    fn support(self) -> f64 {
        match self {
            Resample::Bilinear => 1.0,
            Resample::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        match self {
            Resample::Bilinear => (1.0 - x.abs()).max(0.0),
            Resample::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// The output size of the resize step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTo {
    /// The shorter edge becomes this long, the other keeps the aspect ratio
    /// (rounded down, as `transformers` does).
    ShortestEdge(u32),
    /// Exactly this size.
    Exact {
        /// Output height.
        height: u32,
        /// Output width.
        width: u32,
    },
}

/// What a `preprocessor_config.json` says, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessor {
    /// The resize, if any.
    pub resize: Option<(ResizeTo, Resample)>,
    /// The centre crop `(height, width)`, if any.
    pub crop: Option<(u32, u32)>,
    /// The factor pixel values are multiplied by (usually 1/255), if any.
    pub rescale: Option<f64>,
    /// Per-channel mean and standard deviation, if normalising.
    pub normalize: Option<([f32; 3], [f32; 3])>,
}

/// Why a `preprocessor_config.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    /// Not readable, or not JSON of the expected shape.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A frame whose buffer does not match its size.
    #[error("frame at {time:.3} s: {reason}")]
    BadFrame {
        /// The frame's time.
        time: f64,
        /// What is wrong.
        reason: String,
    },
    /// Building the tensor failed.
    #[error("pixel values: {0}")]
    Tensor(#[from] candle_core::Error),
}

#[derive(Deserialize)]
struct SizeJson {
    shortest_edge: Option<u32>,
    height: Option<u32>,
    width: Option<u32>,
}

#[derive(Deserialize)]
struct ProcessorJson {
    #[serde(default = "yes")]
    do_resize: bool,
    size: Option<SizeJson>,
    #[serde(default = "bicubic")]
    resample: u32,
    #[serde(default)]
    do_center_crop: bool,
    crop_size: Option<SizeJson>,
    #[serde(default = "yes")]
    do_rescale: bool,
    #[serde(default = "one_255th")]
    rescale_factor: f64,
    #[serde(default = "yes")]
    do_normalize: bool,
    image_mean: Option<Vec<f32>>,
    image_std: Option<Vec<f32>>,
}

fn yes() -> bool {
    true
}
fn bicubic() -> u32 {
    3
}
fn one_255th() -> f64 {
    1.0 / 255.0
}

impl ImageProcessor {
    /// Reads a checkpoint's `preprocessor_config.json`.
    ///
    /// # Errors
    ///
    /// [`PreprocessError::Invalid`] naming the file: unreadable, not JSON, a
    /// resample filter other than nearest, bilinear or bicubic, a size with
    /// neither `shortest_edge` nor `height` and `width`, or a mean or standard
    /// deviation that is not three numbers (or a zero deviation).
    pub fn from_file(path: &Path) -> Result<ImageProcessor, PreprocessError> {
        let invalid = |reason: String| PreprocessError::Invalid { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        ImageProcessor::from_json(&text).map_err(invalid)
    }

    /// Parses the text of a `preprocessor_config.json` (see [`Self::from_file`]).
    ///
    /// # Errors
    ///
    /// What is wrong with it, in words.
    pub fn from_json(text: &str) -> Result<ImageProcessor, String> {
        let j: ProcessorJson = serde_json::from_str(text).map_err(|e| format!("not a preprocessor config: {e}"))?;
        let size = |s: &Option<SizeJson>, what: &str| -> Result<ResizeTo, String> {
            match s {
                Some(SizeJson { shortest_edge: Some(e), .. }) if *e > 0 => Ok(ResizeTo::ShortestEdge(*e)),
                Some(SizeJson { height: Some(h), width: Some(w), .. }) if *h > 0 && *w > 0 => Ok(ResizeTo::Exact { height: *h, width: *w }),
                _ => Err(format!("`{what}` needs a positive `shortest_edge`, or `height` and `width`")),
            }
        };
        let resize = if j.do_resize {
            let filter = Resample::from_pil(j.resample)
                .ok_or_else(|| format!("resample {} is not supported (2, bilinear, and 3, bicubic, are)", j.resample))?;
            Some((size(&j.size, "size")?, filter))
        } else {
            None
        };
        let crop = if j.do_center_crop {
            match size(&j.crop_size, "crop_size")? {
                ResizeTo::Exact { height, width } => Some((height, width)),
                ResizeTo::ShortestEdge(e) => Some((e, e)),
            }
        } else {
            None
        };
        let three = |v: &Option<Vec<f32>>, what: &str| -> Result<[f32; 3], String> {
            match v.as_deref() {
                Some([a, b, c]) => Ok([*a, *b, *c]),
                _ => Err(format!("`{what}` must be three numbers")),
            }
        };
        let normalize = if j.do_normalize {
            let (mean, std) = (three(&j.image_mean, "image_mean")?, three(&j.image_std, "image_std")?);
            if std.iter().any(|s| !s.is_normal()) {
                return Err("`image_std` must be non-zero".into());
            }
            Some((mean, std))
        } else {
            None
        };
        Ok(ImageProcessor { resize, crop, rescale: j.do_rescale.then_some(j.rescale_factor), normalize })
    }

    /// The model input for `frames`: a `(frames, 3, height, width)` f32
    /// tensor, all frames of one size once cropped (or resized to an exact
    /// size).
    ///
    /// # Errors
    ///
    /// A frame whose buffer does not match its size, or frames that come out
    /// of different sizes (no crop and a shortest-edge resize).
    pub fn pixel_values(&self, frames: &[Frame], device: &Device) -> Result<Tensor, PreprocessError> {
        let mut data = Vec::new();
        let mut shape = None;
        for f in frames {
            let (h, w, chw) = self.one(f)?;
            if *shape.get_or_insert((h, w)) != (h, w) {
                return Err(PreprocessError::BadFrame { time: f.time, reason: format!("comes out {w}x{h}, unlike the frames before it") });
            }
            data.extend(chw);
        }
        let (h, w) = shape.unwrap_or((0, 0));
        Ok(Tensor::from_vec(data, (frames.len(), 3, h as usize, w as usize), device)?)
    }

    /// One frame: `(height, width, CHW values)`.
    fn one(&self, f: &Frame) -> Result<(u32, u32, Vec<f32>), PreprocessError> {
        let bad = |reason: String| PreprocessError::BadFrame { time: f.time, reason };
        if f.width == 0 || f.height == 0 || f.rgb.len() != f.width as usize * f.height as usize * 3 {
            return Err(bad(format!("{} bytes for {}x{} RGB", f.rgb.len(), f.width, f.height)));
        }
        let mut img = Rgb { width: f.width, height: f.height, pixels: f.rgb.to_vec() };
        if let Some((to, filter)) = self.resize {
            let (height, width) = match to {
                ResizeTo::Exact { height, width } => (height, width),
                ResizeTo::ShortestEdge(e) => shortest_edge(f.height, f.width, e),
            };
            if (height, width) != (img.height, img.width) {
                img = resample(&img, width, height, filter);
            }
        }
        if let Some((height, width)) = self.crop {
            img = center_crop(&img, height, width);
        }
        let plane = img.width as usize * img.height as usize;
        let mut out = vec![0f32; plane * 3];
        for (i, px) in img.pixels.chunks_exact(3).enumerate() {
            for c in 0..3 {
                // As `transformers`: rescale in f64, then f32, then normalise in f32.
                let mut v = match self.rescale {
                    Some(s) => (f64::from(px[c]) * s) as f32,
                    None => f32::from(px[c]),
                };
                if let Some((mean, std)) = &self.normalize {
                    v = (v - mean[c]) / std[c];
                }
                out[c * plane + i] = v;
            }
        }
        Ok((img.height, img.width, out))
    }
}

/// `(height, width)` with the shorter edge `edge` long, the longer one
/// scaled and rounded down (`transformers`' `get_resize_output_image_size`).
fn shortest_edge(height: u32, width: u32, edge: u32) -> (u32, u32) {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    let new_long = (u64::from(edge) * u64::from(long) / u64::from(short)) as u32;
    if width <= height {
        (new_long, edge)
    } else {
        (edge, new_long)
    }
}

/// A packed RGB24 image.
struct Rgb {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// The centre `height` x `width` of `img`, zero-padded where it is smaller
/// (`transformers`' `center_crop`).
fn center_crop(img: &Rgb, height: u32, width: u32) -> Rgb {
    let (ih, iw, h, w) = (i64::from(img.height), i64::from(img.width), i64::from(height), i64::from(width));
    // Where the crop starts in the image; negative when padding.
    let start = |orig: i64, crop: i64| if orig >= crop { (orig - crop) / 2 } else { (orig - crop) / 2 - ((crop - orig) % 2) };
    let (top, left) = (start(ih, h), start(iw, w));
    let mut pixels = vec![0u8; (h * w * 3) as usize];
    for y in 0..h {
        let sy = y + top;
        if !(0..ih).contains(&sy) {
            continue;
        }
        for x in 0..w {
            let sx = x + left;
            if (0..iw).contains(&sx) {
                let (s, d) = (((sy * iw + sx) * 3) as usize, ((y * w + x) * 3) as usize);
                pixels[d..d + 3].copy_from_slice(&img.pixels[s..s + 3]);
            }
        }
    }
    Rgb { width, height, pixels }
}

/// Fixed-point precision of Pillow's 8-bit resampling.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// For each output pixel along one axis: the first input pixel and the
/// fixed-point weights (Pillow's `precompute_coeffs` and
/// `normalize_coeffs_8bpc`).
fn coefficients(in_size: u32, out_size: u32, filter: Resample) -> Vec<(usize, Vec<i32>)> {
    let scale = f64::from(in_size) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (f64::from(xx) + 0.5) * scale;
            // C's (int) cast truncates toward zero.
            let xmin = ((center - support + 0.5).trunc() as i64).max(0) as usize;
            let xmax = ((center + support + 0.5).trunc() as i64).min(i64::from(in_size)) as usize;
            let weights: Vec<f64> = (xmin..xmax.max(xmin)).map(|x| filter.weight((x as f64 - center + 0.5) * ss)).collect();
            let total: f64 = weights.iter().sum();
            let fixed = weights
                .iter()
                .map(|w| {
                    let k = if total != 0.0 { w / total } else { *w } * f64::from(1u32 << PRECISION_BITS);
                    (if k < 0.0 { k - 0.5 } else { k + 0.5 }).trunc() as i32
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's `Image.resize` of an RGB image: a horizontal pass, then a
/// vertical one, each rounding to 8 bits.
fn resample(img: &Rgb, width: u32, height: u32, filter: Resample) -> Rgb {
    let half = 1i64 << (PRECISION_BITS - 1);
    let mut horizontal = img.pixels.clone();
    let mut hw = img.width;
    if width != img.width {
        let coeffs = coefficients(img.width, width, filter);
        horizontal = vec![0u8; width as usize * img.height as usize * 3];
        for y in 0..img.height as usize {
            let row = &img.pixels[y * img.width as usize * 3..(y + 1) * img.width as usize * 3];
            for (x, (start, k)) in coeffs.iter().enumerate() {
                for c in 0..3 {
                    let acc: i64 =
                        half + k.iter().enumerate().map(|(i, w)| i64::from(row[(start + i) * 3 + c]) * i64::from(*w)).sum::<i64>();
                    horizontal[(y * width as usize + x) * 3 + c] = clip8(acc);
                }
            }
        }
        hw = width;
    }
    if height == img.height {
        return Rgb { width: hw, height, pixels: horizontal };
    }
    let coeffs = coefficients(img.height, height, filter);
    let stride = hw as usize * 3;
    let mut out = vec![0u8; stride * height as usize];
    for (y, (start, k)) in coeffs.iter().enumerate() {
        for i in 0..stride {
            let acc: i64 =
                half + k.iter().enumerate().map(|(j, w)| i64::from(horizontal[(start + j) * stride + i]) * i64::from(*w)).sum::<i64>();
            out[y * stride + i] = clip8(acc);
        }
    }
    Rgb { width: hw, height, pixels: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_transformers() {
        assert_eq!(shortest_edge(720, 1280, 224), (224, 398));
        assert_eq!(shortest_edge(576, 768, 224), (224, 298));
        assert_eq!(shortest_edge(1280, 720, 224), (398, 224));
    }

    #[test]
    fn a_small_image_is_padded_around_the_centre() {
        let img = Rgb { width: 1, height: 1, pixels: vec![9, 9, 9] };
        let out = center_crop(&img, 3, 4);
        // transformers puts the odd pixel of padding before the image.
        let at = |y: usize, x: usize| out.pixels[(y * 4 + x) * 3];
        assert_eq!(at(1, 2), 9);
        assert_eq!(out.pixels.iter().filter(|v| **v == 9).count(), 3);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let e = ImageProcessor::from_json(r#"{"resample": 1, "size": {"shortest_edge": 224}}"#).expect_err("an invalid config");
        assert!(e.contains("resample 1"), "{e}");
        let e = ImageProcessor::from_json(r#"{"size": {"longest_edge": 224}}"#).expect_err("an invalid config");
        assert!(e.contains("shortest_edge"), "{e}");
        let e = ImageProcessor::from_json(r#"{"size": {"height": 2, "width": 2}, "image_mean": [0.5], "image_std": [1,1,1]}"#)
            .expect_err("an invalid config");
        assert!(e.contains("image_mean"), "{e}");
        assert!(ImageProcessor::from_json("[").is_err());
    }
}
