//! PP-OCR line recognition: a CTC recogniser over one cropped text line.
//!
//! As rapidocr 3.10 runs it:
//!
//! 1. **Crop:** the detected quadrilateral is warped to an upright rectangle
//!    (perspective transform, bicubic, edge pixels replicated) as wide and tall
//!    as its longer opposite sides; a crop at least 1.5× taller than wide is
//!    turned 90° counter-clockwise (vertical text).
//! 2. **Resize:** height 48, width `ceil(48 × w / h)`, bilinear, pixels to
//!    `(x / 255 − 0.5) / 0.5`, BGR, zero-padded on the right to at least
//!    320 (see [`input_width`]).
//! 3. **Decode (greedy CTC):** the most probable class per time step; repeats
//!    collapse and the blank (class 0) is dropped. Classes are `blank`, the
//!    model's charset (its ONNX metadata key `character`, one character per
//!    line), then a space. Confidence is the mean probability of the kept
//!    steps (0 for an empty line).

use opencv::core::{self, Mat, Point2f, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use vprog_runtime::ModuleError;

use super::normalised_chw;
use super::onnx::{bad_model, Network};
use crate::vision::cv_err;

/// Input height of the recogniser and the angle classifier.
pub const HEIGHT: usize = 48;
/// The narrowest recogniser input (rapidocr's `rec_img_shape` width).
pub const MIN_WIDTH: usize = 320;
/// Recogniser input widths are rounded up to a multiple of this, so a video's
/// lines reuse a few optimised plans (the extra columns are zero padding, as
/// in rapidocr's batches).
pub const WIDTH_BUCKET: usize = 160;

/// A recognised line.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognised {
    /// The text.
    pub text: String,
    /// Mean probability of its characters, 0-1.
    pub score: f32,
}

/// The upright crop of `quad` from `bgr` (step 1).
///
/// # Errors
///
/// [`ModuleError::Failed`] when OpenCV fails.
pub fn crop(bgr: &Mat, quad: &[[f32; 2]; 4]) -> Result<Option<Mat>, ModuleError> {
    let dist = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let w = dist(quad[0], quad[1]).max(dist(quad[2], quad[3])) as i32;
    let h = dist(quad[0], quad[3]).max(dist(quad[1], quad[2])) as i32;
    if w < 1 || h < 1 {
        return Ok(None);
    }
    let src: Vector<Point2f> = quad.iter().map(|p| Point2f::new(p[0], p[1])).collect();
    let dst: Vector<Point2f> =
        [(0.0, 0.0), (w as f32, 0.0), (w as f32, h as f32), (0.0, h as f32)].iter().map(|&(x, y)| Point2f::new(x, y)).collect();
    let m = imgproc::get_perspective_transform(&src, &dst, core::DECOMP_LU).map_err(cv_err("text line transform"))?;
    let mut out = Mat::default();
    imgproc::warp_perspective(bgr, &mut out, &m, Size::new(w, h), imgproc::INTER_CUBIC, core::BORDER_REPLICATE, core::Scalar::default())
        .map_err(cv_err("cropping a text line"))?;
    if f64::from(h) / f64::from(w) >= 1.5 {
        let mut turned = Mat::default();
        core::rotate(&out, &mut turned, core::ROTATE_90_COUNTERCLOCKWISE).map_err(cv_err("turning a vertical text line"))?;
        out = turned;
    }
    Ok(Some(out))
}

/// The reference input width of a crop `w`×`h` (rapidocr, one line per batch):
/// `int(48 × max(320 / 48, w / h))`.
pub fn input_width(w: i32, h: i32) -> usize {
    let ratio = (f64::from(w) / f64::from(h.max(1))).max(MIN_WIDTH as f64 / HEIGHT as f64);
    (HEIGHT as f64 * ratio) as usize
}

/// `crop` resized to height 48 (width `ceil(48 w / h)`, at most `width`),
/// normalised and zero-padded to `width` (step 2), as CHW.
///
/// # Errors
///
/// [`ModuleError::Failed`] when OpenCV fails.
pub fn normalised(crop: &Mat, width: usize) -> Result<Vec<f32>, ModuleError> {
    let ratio = f64::from(crop.cols()) / f64::from(crop.rows().max(1));
    let resized_w = ((HEIGHT as f64 * ratio).ceil() as usize).clamp(1, width);
    normalised_chw(crop, (resized_w, HEIGHT), width, "resizing a text line")
}

/// Greedy CTC decoding of `probs` (`steps` × `classes`, row-major) with `charset` (step 3).
pub fn ctc_decode(probs: &[f32], classes: usize, charset: &[String]) -> Recognised {
    let mut text = String::new();
    let mut kept: Vec<f32> = Vec::new();
    let mut previous = usize::MAX;
    for row in probs.chunks_exact(classes.max(1)) {
        let (idx, p) = row.iter().copied().enumerate().fold((0, f32::MIN), |best, (i, v)| if v > best.1 { (i, v) } else { best });
        if idx != 0 && idx != previous {
            if let Some(c) = charset.get(idx) {
                text.push_str(c);
                kept.push(p);
            }
        }
        previous = idx;
    }
    let score = if kept.is_empty() { 0.0 } else { kept.iter().sum::<f32>() / kept.len() as f32 };
    Recognised { text, score }
}

/// The line recogniser.
#[derive(Debug)]
pub struct TextRecognizer {
    net: Network,
    /// Class index → text: `blank`, the model's characters, a space.
    charset: Vec<String>,
}

impl TextRecognizer {
    /// Wraps the loaded network, reading its charset from the ONNX metadata.
    ///
    /// # Errors
    ///
    /// [`ModuleError::BadModel`] when the metadata has no `character` key.
    pub fn new(net: Network, path: &std::path::Path) -> Result<TextRecognizer, ModuleError> {
        let chars = net
            .metadata("character")
            .ok_or_else(|| bad_model("PP-OCR recogniser", path, "its ONNX metadata has no `character` charset"))?;
        let mut charset = vec!["blank".to_string()];
        charset.extend(chars.lines().map(str::to_string));
        charset.push(" ".to_string());
        Ok(TextRecognizer { net, charset })
    }

    /// Class index → text: `blank`, the model's characters, a space.
    pub fn charset(&self) -> &[String] {
        &self.charset
    }

    /// The raw class probabilities for a crop at input `width`: `(steps, classes, values)`.
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when OpenCV or the network fails, or the
    /// output does not match the charset.
    pub fn probabilities(&self, crop: &Mat, width: usize) -> Result<(usize, usize, Vec<f32>), ModuleError> {
        let input = normalised(crop, width)?;
        let (shape, probs) = self.net.run(&[1, 3, HEIGHT, width], input)?;
        if shape.len() != 3 || shape[2] != self.charset.len() {
            return Err(ModuleError::Failed(format!(
                "PP-OCR recogniser: output shape {shape:?} does not match its charset of {} classes",
                self.charset.len()
            )));
        }
        Ok((shape[1], shape[2], probs))
    }

    /// Reads one cropped line.
    ///
    /// # Errors
    ///
    /// As [`TextRecognizer::probabilities`].
    pub fn recognise(&self, crop: &Mat) -> Result<Recognised, ModuleError> {
        let width = input_width(crop.cols(), crop.rows()).div_ceil(WIDTH_BUCKET) * WIDTH_BUCKET;
        let (_, classes, probs) = self.probabilities(crop, width)?;
        Ok(ctc_decode(&probs, classes, &self.charset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let charset: Vec<String> = ["blank", "a", "b", " "].iter().map(|s| s.to_string()).collect();
        // steps: a a blank a b b  → "aab"
        let steps = [1, 1, 0, 1, 2, 2];
        let mut probs = Vec::new();
        for &s in &steps {
            let mut row = vec![0.1f32; 4];
            row[s] = 0.7;
            probs.extend(row);
        }
        let r = ctc_decode(&probs, 4, &charset);
        assert_eq!(r.text, "aab");
        assert!((r.score - 0.7).abs() < 1e-6);
        let empty = ctc_decode(&[0.9, 0.1, 0.0, 0.0], 4, &charset);
        assert_eq!((empty.text.as_str(), empty.score), ("", 0.0));
    }

    #[test]
    fn input_width_has_a_floor_of_320() {
        assert_eq!(input_width(100, 48), 320);
        assert_eq!(input_width(960, 48), 960);
        assert_eq!(input_width(0, 0), 320);
    }
}
