//! PP-OCR (PaddleOCR's PP-OCRv6 small, as shipped in PyPI `rapidocr` 3.10):
//! text detection ([`det`]), optional angle classification ([`angle`]) and
//! line recognition ([`rec`]), the ONNX files run on tract ([`onnx`]).
//!
//! [`PpOcr::read`] is rapidocr's pipeline on one image: pad a short strip
//! ([`vertical_padding`]), detect boxes, crop
//! each, optionally turn upside-down lines, recognise, and keep lines whose
//! recognition score reaches `min_score` (rapidocr's `text_score`, 0.5).
//! Its outputs match onnxruntime and rapidocr on real frames within the
//! tolerances of `modules/tests/ppocr.rs` (goldens from
//! `scripts/goldens/ppocr.py`).

pub mod angle;
pub mod det;
mod onnx;
pub mod rec;

use std::path::Path;

use opencv::core::{Mat, Vec3b};
use opencv::imgproc;
use opencv::prelude::*;
use vprog_runtime::value::Frame;
use vprog_runtime::ModuleError;

pub use det::{DbParams, TextBox};
pub use onnx::Network;

use crate::vision::cv_err;

/// PP-OCR settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpOcrParams {
    /// Detection settings.
    pub det: DbParams,
    /// Lines whose recognition score is below this (0-1) are dropped.
    pub min_score: f32,
    /// Run the angle classifier on each line (turns upside-down lines).
    pub angle: bool,
}

impl Default for PpOcrParams {
    fn default() -> Self {
        PpOcrParams { det: DbParams::default(), min_score: 0.5, angle: false }
    }
}

/// A line of text read in an image.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    /// Its box, in image pixels (top-left, top-right, bottom-right, bottom-left).
    pub quad: [[f32; 2]; 4],
    /// Detection score (mean text probability in the box), 0-1.
    pub box_score: f32,
    /// The text.
    pub text: String,
    /// Recognition score (mean character probability), 0-1.
    pub score: f32,
    /// Whether the angle classifier turned it 180°.
    pub turned: bool,
}

impl TextLine {
    /// The axis-aligned bounds of its box: `(x, y, w, h)`.
    pub fn bounds(&self) -> (f32, f32, f32, f32) {
        let xs = self.quad.iter().map(|p| p[0]);
        let ys = self.quad.iter().map(|p| p[1]);
        let (x0, x1) = (xs.clone().fold(f32::MAX, f32::min), xs.fold(f32::MIN, f32::max));
        let (y0, y1) = (ys.clone().fold(f32::MAX, f32::min), ys.fold(f32::MIN, f32::max));
        (x0, y0, x1 - x0, y1 - y0)
    }
}

/// The three networks, loaded.
#[derive(Debug)]
pub struct PpOcr {
    /// The text detector.
    pub det: det::TextDetector,
    /// The line recogniser.
    pub rec: rec::TextRecognizer,
    /// The angle classifier.
    pub angle: angle::AngleClassifier,
}

impl PpOcr {
    /// Loads `det.onnx`, `rec.onnx` and `cls.onnx` from `dir` (an installed
    /// `pp-ocrv6-small`).
    ///
    /// # Errors
    ///
    /// [`ModuleError::BadModel`] when a file is missing, corrupt or not the expected network.
    pub fn load(dir: &Path) -> Result<PpOcr, ModuleError> {
        let det_path = dir.join("det.onnx");
        let rec_path = dir.join("rec.onnx");
        let cls_path = dir.join("cls.onnx");
        let det = det::TextDetector::new(Network::load("PP-OCR text detector", &det_path)?);
        let rec = rec::TextRecognizer::new(Network::load("PP-OCR recogniser", &rec_path)?, &rec_path)?;
        let angle = angle::AngleClassifier::new(Network::load("PP-OCR angle classifier", &cls_path)?);
        Ok(PpOcr { det, rec, angle })
    }

    /// Reads the lines of text in a BGR image, in reading order.
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when OpenCV or a network fails.
    pub fn read_bgr(&self, bgr: &Mat, p: &PpOcrParams) -> Result<Vec<TextLine>, ModuleError> {
        let pad = vertical_padding(bgr.cols(), bgr.rows());
        let padded = if pad > 0 {
            let mut out = Mat::default();
            opencv::core::copy_make_border(bgr, &mut out, pad, pad, 0, 0, opencv::core::BORDER_CONSTANT, opencv::core::Scalar::all(0.0))
                .map_err(cv_err("padding a short image"))?;
            out
        } else {
            bgr.clone()
        };
        let bottom = (bgr.rows() - 1).max(0) as f32;
        let mut lines = Vec::new();
        for mut b in self.det.detect(&padded, &p.det)? {
            let Some(crop) = rec::crop(&padded, &b.quad)? else { continue };
            for q in &mut b.quad {
                q[1] = (q[1] - pad as f32).clamp(0.0, bottom);
            }
            let (crop, turned) = if p.angle { self.angle.upright(crop)? } else { (crop, false) };
            let r = self.rec.recognise(&crop)?;
            if r.score < p.min_score || r.text.trim().is_empty() {
                continue;
            }
            lines.push(TextLine { quad: b.quad, box_score: b.score, text: r.text, score: r.score, turned });
        }
        Ok(lines)
    }

    /// Reads the lines of text in a frame (see [`PpOcr::read_bgr`]).
    ///
    /// # Errors
    ///
    /// As [`PpOcr::read_bgr`].
    pub fn read(&self, frame: &Frame, p: &PpOcrParams) -> Result<Vec<TextLine>, ModuleError> {
        self.read_bgr(&bgr_mat(frame)?, p)
    }
}

/// `img` resized (bilinear) to `w`×`h`, its pixels as `(x / 255 − 0.5) / 0.5`
/// in CHW order, each row zero-padded on the right to `padded_w` (≥ `w`):
/// the input layout of all three PP-OCR networks.
///
/// # Errors
///
/// [`ModuleError::Failed`] when OpenCV fails; `what` names the image.
pub(crate) fn normalised_chw(img: &Mat, (w, h): (usize, usize), padded_w: usize, what: &str) -> Result<Vec<f32>, ModuleError> {
    let mut resized = Mat::default();
    imgproc::resize(img, &mut resized, opencv::core::Size::new(w as i32, h as i32), 0.0, 0.0, imgproc::INTER_LINEAR)
        .map_err(cv_err(what))?;
    let bytes = resized.data_bytes().map_err(cv_err(what))?;
    let plane = padded_w * h;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in bytes.chunks_exact(3).enumerate() {
        let (y, x) = (i / w, i % w);
        for c in 0..3 {
            out[c * plane + y * padded_w + x] = (f32::from(px[c]) / 255.0 - 0.5) / 0.5;
        }
    }
    Ok(out)
}

/// Images this short, or wider than [`WIDTH_HEIGHT_RATIO`] × their height,
/// are padded with black above and below before detection (rapidocr's
/// `use_vertical_padding`, `min_height`): the detector finds little in a
/// strip.
pub const MIN_HEIGHT: i32 = 30;
/// See [`MIN_HEIGHT`].
pub const WIDTH_HEIGHT_RATIO: i32 = 8;

/// Rows of black added above and below a `w`×`h` image (rapidocr's
/// `get_padding_h`): to a height of `2 × max(w / 8, 30)`.
pub fn vertical_padding(w: i32, h: i32) -> i32 {
    if h > MIN_HEIGHT && w <= WIDTH_HEIGHT_RATIO * h {
        return 0;
    }
    let target = (w / WIDTH_HEIGHT_RATIO).max(MIN_HEIGHT) * 2;
    (target - h).abs() / 2
}

/// The frame as an 8-bit BGR mat (a copy): PaddleOCR's models take BGR.
///
/// # Errors
///
/// [`ModuleError::Failed`] when OpenCV fails (e.g. the buffer does not match the size).
pub fn bgr_mat(f: &Frame) -> Result<Mat, ModuleError> {
    let rgb = Mat::new_rows_cols_with_bytes::<Vec3b>(f.height as i32, f.width as i32, &f.rgb).map_err(cv_err("wrapping a frame"))?;
    let mut bgr = Mat::default();
    imgproc::cvt_color_def(&rgb, &mut bgr, imgproc::COLOR_RGB2BGR).map_err(cv_err("converting a frame to BGR"))?;
    Ok(bgr)
}
