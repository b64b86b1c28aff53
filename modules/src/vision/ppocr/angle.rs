//! PP-OCR's text angle classifier: is a cropped line upside down?
//!
//! PaddleOCR's mobile v2.0 classifier takes a line resized as the recogniser
//! takes it ([`super::rec::normalised`]) at width 192 and gives two
//! probabilities, upright and turned 180°. A line is turned when "180" wins
//! with probability above [`TURN_THRESHOLD`] (rapidocr's `cls_thresh`).

use opencv::core::{self, Mat};
use vprog_runtime::ModuleError;

use super::onnx::Network;
use super::rec::{normalised, HEIGHT};
use crate::vision::cv_err;

/// The classifier's input width.
pub const WIDTH: usize = 192;
/// Probability of "180" above which a line is turned.
pub const TURN_THRESHOLD: f32 = 0.9;

/// The angle classifier.
#[derive(Debug)]
pub struct AngleClassifier {
    net: Network,
}

impl AngleClassifier {
    /// Wraps the loaded network.
    pub fn new(net: Network) -> AngleClassifier {
        AngleClassifier { net }
    }

    /// The probability that `crop` is upside down.
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when OpenCV or the network fails.
    pub fn upside_down(&self, crop: &Mat) -> Result<f32, ModuleError> {
        let (shape, probs) = self.net.run(&[1, 3, HEIGHT, WIDTH], normalised(crop, WIDTH)?)?;
        match (shape.as_slice(), probs.as_slice()) {
            ([1, 2], [_, turned]) => Ok(*turned),
            _ => Err(ModuleError::Failed(format!("PP-OCR angle classifier: output shape {shape:?}, expected [1, 2]"))),
        }
    }

    /// `crop`, turned 180° when the classifier says so; and whether it was.
    ///
    /// # Errors
    ///
    /// As [`AngleClassifier::upside_down`].
    pub fn upright(&self, crop: Mat) -> Result<(Mat, bool), ModuleError> {
        if self.upside_down(&crop)? <= TURN_THRESHOLD {
            return Ok((crop, false));
        }
        let mut turned = Mat::default();
        core::rotate(&crop, &mut turned, core::ROTATE_180).map_err(cv_err("turning a text line"))?;
        Ok((turned, true))
    }
}
