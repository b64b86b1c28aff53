//! PP-OCR text detection: Differentiable Binarization (DB).
//!
//! The network maps a BGR image to a per-pixel text probability. Boxes come
//! from the post-processing of PaddleOCR's `DBPostProcess`, as rapidocr 3.10
//! runs it:
//!
//! 1. **Resize** so the shorter side is `limit_side` (only ever enlarging,
//!    PaddleOCR's `limit_type: min`, unless `shrink`), then each side to the nearest multiple
//!    of 32; pixels to `(x / 255 − 0.5) / 0.5`, BGR, NCHW. On top of the
//!    reference, the longer side is capped at `max_side` (4K frames would
//!    otherwise cost seconds each).
//! 2. **Threshold** the probability at [`DbParams::thresh`], dilate 2×2.
//! 3. **Contours** (all, simple chain), each to its minimum-area rectangle;
//!    dropped when its shorter side is under 3 px or when the mean
//!    probability inside it (the "fast" score) is under `box_thresh`.
//! 4. **Unclip:** the rectangle grows by `area × unclip_ratio / perimeter` on
//!    every side (the Vatti offset of a rectangle, rounded corners, then its
//!    minimum-area rectangle again); dropped when its shorter side is then
//!    under 5 px.
//! 5. **Back to the frame**, clipped to it; points ordered top-left,
//!    top-right, bottom-right, bottom-left; boxes 3 px or thinner dropped.
//! 6. **Reading order:** top to bottom; boxes whose tops differ by < 10 px
//!    are one row, ordered left to right.

use opencv::core::{self, Mat, Point, Point2f, RotatedRect, Scalar, Vector, CV_8U};
use opencv::imgproc;
use opencv::prelude::*;
use vprog_runtime::ModuleError;

use super::normalised_chw;
use super::onnx::Network;
use crate::vision::cv_err;

/// Detection post-processing settings (rapidocr 3.10's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbParams {
    /// The shorter side is enlarged to this, px (PaddleOCR's `limit_type: min`).
    pub limit_side: u32,
    /// Also shrink frames whose shorter side is longer than `limit_side` (not in the reference; faster on large frames).
    pub shrink: bool,
    /// The longer side is capped at this, px (not in the reference; 0 = no cap).
    pub max_side: u32,
    /// Probability above which a pixel is text.
    pub thresh: f32,
    /// Mean probability a box needs.
    pub box_thresh: f32,
    /// How far boxes grow: `area × unclip_ratio / perimeter`.
    pub unclip_ratio: f32,
    /// At most this many contours are examined.
    pub max_candidates: usize,
}

impl Default for DbParams {
    fn default() -> Self {
        DbParams { limit_side: 736, shrink: false, max_side: 2000, thresh: 0.3, box_thresh: 0.5, unclip_ratio: 1.6, max_candidates: 1000 }
    }
}

/// Shorter sides of a box under this (px, network resolution) are noise.
const MIN_SIZE: f32 = 3.0;
/// Boxes whose tops differ by less than this (frame px) share a row.
const ROW_TOLERANCE: f32 = 10.0;

/// A detected text box in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    /// Corners: top-left, top-right, bottom-right, bottom-left.
    pub quad: [[f32; 2]; 4],
    /// Mean text probability inside the box before it was grown.
    pub score: f32,
}

/// The network input size for a `w`×`h` image: `(width, height)`, multiples of 32.
pub fn input_size(w: u32, h: u32, p: &DbParams) -> (usize, usize) {
    let (wf, hf) = (f64::from(w.max(1)), f64::from(h.max(1)));
    let short = wf.min(hf);
    let mut ratio = if short < f64::from(p.limit_side) || p.shrink { f64::from(p.limit_side) / short } else { 1.0 };
    if p.max_side > 0 && wf.max(hf) * ratio > f64::from(p.max_side) {
        ratio = f64::from(p.max_side) / wf.max(hf);
    }
    // PaddleOCR: int() then Python's round() (ties to even) to a multiple of 32 (at least 32).
    let round32 = |v: f64| (((v * ratio).trunc() / 32.0).round_ties_even() as usize * 32).max(32);
    (round32(wf), round32(hf))
}

/// The detector's input tensor (NCHW, normalised) for `bgr` resized to `(w, h)`.
///
/// # Errors
///
/// [`ModuleError::Failed`] when OpenCV fails.
pub fn input_tensor(bgr: &Mat, (w, h): (usize, usize)) -> Result<Vec<f32>, ModuleError> {
    normalised_chw(bgr, (w, h), w, "resizing a frame for text detection")
}

/// The text detector.
#[derive(Debug)]
pub struct TextDetector {
    net: Network,
}

impl TextDetector {
    /// Wraps the loaded network.
    pub fn new(net: Network) -> TextDetector {
        TextDetector { net }
    }

    /// The probability map for `bgr` (`(width, height, values)` at the network's resolution).
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when OpenCV or the network fails.
    pub fn probability(&self, bgr: &Mat, p: &DbParams) -> Result<(usize, usize, Vec<f32>), ModuleError> {
        let (w, h) = input_size(bgr.cols() as u32, bgr.rows() as u32, p);
        let input = input_tensor(bgr, (w, h))?;
        let (shape, prob) = self.net.run(&[1, 3, h, w], input)?;
        if shape.len() != 4 || shape[2] != h || shape[3] != w || prob.len() < w * h {
            return Err(ModuleError::Failed(format!("PP-OCR text detector: output shape {shape:?} for input {h}x{w}")));
        }
        Ok((w, h, prob[..w * h].to_vec()))
    }

    /// Text boxes in `bgr` (frame pixels, reading order).
    ///
    /// # Errors
    ///
    /// As [`TextDetector::probability`].
    pub fn detect(&self, bgr: &Mat, p: &DbParams) -> Result<Vec<TextBox>, ModuleError> {
        let (w, h, prob) = self.probability(bgr, p)?;
        let mut boxes = boxes_from_probability(&prob, w, h, bgr.cols() as u32, bgr.rows() as u32, p)?;
        sort_reading_order(&mut boxes);
        Ok(boxes)
    }
}

/// The minimum-area rectangle of `points`: its corners ordered as PaddleOCR's
/// `get_mini_boxes` orders them, and its shorter side.
fn mini_box(rect: &RotatedRect) -> Result<([Point2f; 4], f32), ModuleError> {
    let mut pts = [Point2f::default(); 4];
    rect.points(&mut pts).map_err(cv_err("box corners"))?;
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    let (i1, i4) = if pts[1].y > pts[0].y { (0, 1) } else { (1, 0) };
    let (i2, i3) = if pts[3].y > pts[2].y { (2, 3) } else { (3, 2) };
    Ok(([pts[i1], pts[i2], pts[i3], pts[i4]], rect.size.width.min(rect.size.height)))
}

/// Mean of `prob` inside the polygon `quad` (PaddleOCR's `box_score_fast`).
fn box_score(prob: &Mat, quad: &[Point2f; 4]) -> Result<f32, ModuleError> {
    let (w, h) = (prob.cols(), prob.rows());
    let xs = quad.iter().map(|p| p.x);
    let ys = quad.iter().map(|p| p.y);
    let xmin = (xs.clone().fold(f32::MAX, f32::min).floor() as i32).clamp(0, w - 1);
    let xmax = (xs.fold(f32::MIN, f32::max).ceil() as i32).clamp(0, w - 1);
    let ymin = (ys.clone().fold(f32::MAX, f32::min).floor() as i32).clamp(0, h - 1);
    let ymax = (ys.fold(f32::MIN, f32::max).ceil() as i32).clamp(0, h - 1);
    let (rw, rh) = (xmax - xmin + 1, ymax - ymin + 1);
    let mut mask = Mat::zeros(rh, rw, CV_8U).and_then(|m| m.to_mat()).map_err(cv_err("box mask"))?;
    // numpy's astype(int32): truncation toward zero.
    let poly: Vector<Point> = quad.iter().map(|p| Point::new((p.x - xmin as f32) as i32, (p.y - ymin as f32) as i32)).collect();
    let polys: Vector<Vector<Point>> = std::iter::once(poly).collect();
    imgproc::fill_poly_def(&mut mask, &polys, Scalar::all(1.0)).map_err(cv_err("box mask"))?;
    let roi = Mat::roi(prob, core::Rect::new(xmin, ymin, rw, rh)).map_err(cv_err("box region"))?;
    let mean = core::mean(&roi, &mask).map_err(cv_err("box score"))?;
    Ok(mean[0] as f32)
}

/// Boxes from a probability map (`pw`×`ph`) for a `fw`×`fh` frame, unsorted.
///
/// # Errors
///
/// [`ModuleError::Failed`] when OpenCV fails.
pub fn boxes_from_probability(prob: &[f32], pw: usize, ph: usize, fw: u32, fh: u32, p: &DbParams) -> Result<Vec<TextBox>, ModuleError> {
    let prob_mat = Mat::new_rows_cols_with_data(ph as i32, pw as i32, prob)
        .and_then(|m| m.try_clone())
        .map_err(cv_err("wrapping the probability map"))?;
    let bitmap: Vec<u8> = prob.iter().map(|&v| if v > p.thresh { 255 } else { 0 }).collect();
    let bitmap = Mat::new_rows_cols_with_data(ph as i32, pw as i32, &bitmap).map_err(cv_err("wrapping the text mask"))?;
    let kernel = Mat::ones(2, 2, CV_8U).and_then(|m| m.to_mat()).map_err(cv_err("dilation kernel"))?;
    let mut dilated = Mat::default();
    imgproc::dilate_def(&bitmap, &mut dilated, &kernel).map_err(cv_err("dilating the text mask"))?;
    let mut contours: Vector<Vector<Point>> = Vector::new();
    imgproc::find_contours_def(&dilated, &mut contours, imgproc::RETR_LIST, imgproc::CHAIN_APPROX_SIMPLE)
        .map_err(cv_err("finding text contours"))?;
    let (sx, sy) = (fw as f32 / pw as f32, fh as f32 / ph as f32);
    let mut out = Vec::new();
    for contour in contours.iter().take(p.max_candidates) {
        let rect = imgproc::min_area_rect(&contour).map_err(cv_err("text box"))?;
        let (quad, short) = mini_box(&rect)?;
        if short < MIN_SIZE {
            continue;
        }
        let score = box_score(&prob_mat, &quad)?;
        if score < p.box_thresh {
            continue;
        }
        // Unclip: the rectangle grown by d on every side.
        let (rw, rh) = (rect.size.width, rect.size.height);
        let d = rw * rh * p.unclip_ratio / (2.0 * (rw + rh));
        let grown = RotatedRect::new(rect.center, core::Size2f::new(rw + 2.0 * d, rh + 2.0 * d), rect.angle).map_err(cv_err("text box"))?;
        let (quad, short) = mini_box(&grown)?;
        if short < MIN_SIZE + 2.0 {
            continue;
        }
        let scaled: Vec<[f32; 2]> = quad
            .iter()
            .map(|q| [(q.x * sx).round().clamp(0.0, fw as f32).trunc(), (q.y * sy).round().clamp(0.0, fh as f32).trunc()])
            .collect();
        let mut ordered = order_clockwise([scaled[0], scaled[1], scaled[2], scaled[3]]);
        for q in &mut ordered {
            q[0] = q[0].clamp(0.0, fw.saturating_sub(1) as f32).trunc();
            q[1] = q[1].clamp(0.0, fh.saturating_sub(1) as f32).trunc();
        }
        let dist = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt().trunc();
        if dist(ordered[0], ordered[1]) <= 3.0 || dist(ordered[0], ordered[3]) <= 3.0 {
            continue;
        }
        out.push(TextBox { quad: ordered, score });
    }
    Ok(out)
}

/// Corners as top-left, top-right, bottom-right, bottom-left (the two
/// leftmost by x are the left pair, each pair split by y).
fn order_clockwise(pts: [[f32; 2]; 4]) -> [[f32; 2]; 4] {
    let mut by_x = pts;
    by_x.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (mut left, mut right) = ([by_x[0], by_x[1]], [by_x[2], by_x[3]]);
    left.sort_by(|a, b| a[1].total_cmp(&b[1]));
    right.sort_by(|a, b| a[1].total_cmp(&b[1]));
    [left[0], right[0], right[1], left[1]]
}

/// Sorts boxes into reading order (see the module docs, step 6).
pub fn sort_reading_order(boxes: &mut Vec<TextBox>) {
    boxes.sort_by(|a, b| a.quad[0][1].total_cmp(&b.quad[0][1]));
    let mut row = 0usize;
    let mut rows = Vec::with_capacity(boxes.len());
    for (i, b) in boxes.iter().enumerate() {
        if i > 0 && b.quad[0][1] - boxes[i - 1].quad[0][1] >= ROW_TOLERANCE {
            row += 1;
        }
        rows.push(row);
    }
    let mut keyed: Vec<(usize, TextBox)> = rows.into_iter().zip(boxes.drain(..)).collect();
    keyed.sort_by(|(ra, a), (rb, b)| ra.cmp(rb).then(a.quad[0][0].total_cmp(&b.quad[0][0])));
    boxes.extend(keyed.into_iter().map(|(_, b)| b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_size_follows_paddle_rounding() {
        let p = DbParams::default();
        // 1280x720: the short side is enlarged to 736, the long to 1308.4 → 1312.
        assert_eq!(input_size(1280, 720, &p), (1312, 736));
        // Large frames are not shrunk below limit_side but the long side is capped.
        assert_eq!(input_size(1000, 800, &p), (992, 800));
        // 3840·(2000/3840) = 2000 → 62.5 × 32 → ties to even: 62 × 32.
        assert_eq!(input_size(3840, 2160, &p), (1984, 1120));
        // With `shrink`, a 720p frame is read at 544 px.
        assert_eq!(input_size(1280, 720, &DbParams { limit_side: 544, shrink: true, ..p }), (960, 544));
        // Tiny frames still give at least 32.
        let (w, h) = input_size(16, 16, &p);
        assert_eq!((w, h), (736, 736));
    }

    #[test]
    fn reading_order_groups_rows() {
        let b = |x: f32, y: f32| TextBox { quad: [[x, y], [x + 10.0, y], [x + 10.0, y + 5.0], [x, y + 5.0]], score: 1.0 };
        let mut boxes = vec![b(50.0, 104.0), b(0.0, 100.0), b(10.0, 40.0)];
        sort_reading_order(&mut boxes);
        let xs: Vec<f32> = boxes.iter().map(|b| b.quad[0][0]).collect();
        assert_eq!(xs, vec![10.0, 0.0, 50.0]);
    }

    #[test]
    fn corners_are_ordered_clockwise_from_top_left() {
        let q = order_clockwise([[10.0, 10.0], [0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]);
        assert_eq!(q, [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]);
    }
}
