//! `detect(frames, label)`: OpenCV's classic object detectors.
//!
//! - **person**: the HOG + linear SVM people detector (Dalal & Triggs) built
//!   into OpenCV (`HOGDescriptor::getDefaultPeopleDetector`). Its window is
//!   64x128 pixels, so people shorter than ~128 px are missed; by default
//!   (`upscale = 0`, auto) frames are enlarged by `clamp(1152 / height, 1, 3)`
//!   so a person 1/9 of the frame height fills the window (768x576 → 2x).
//!   Score: `1 - exp(-w)` of the SVM margin `w` of the grouped window
//!   (w = 0.5 → 0.39, 1 → 0.63, 2 → 0.86).
//! - **Haar cascades** from the Debian `opencv-data` package (faces, eyes,
//!   bodies, cat faces, licence plates, ...; see [`LABELS`]), looked up in
//!   `$VPROG_OPENCV_DATA/haarcascades` (default `/usr/share/opencv4`).
//!   Frames are converted to grayscale and histogram-equalised; by default
//!   frames lower than 720 px are enlarged by `clamp(720 / height, 1, 2)`.
//!   Score: `n / (n + 3)` where `n` is the number of raw neighbouring hits
//!   merged into the box (`minNeighbors = 3`, so every box scores ≥ 0.5).
//!
//! Overlapping boxes are suppressed greedily (IoU > 0.45, or a box lying
//! 80 % inside a higher-scoring one). Boxes are in the input frames' pixel
//! coordinates. Frames are processed in contiguous chunks, one per core.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use opencv::core::{Mat, Rect, Size, Vector};
use opencv::imgproc;
use opencv::objdetect::{CascadeClassifier, HOGDescriptor};
use opencv::prelude::*;
use vprog_runtime::value::{BBox, Detections, Frame, FrameDetections};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::{check_frame, cv_err, gray_mat, map_chunks, scaled};

/// Environment variable naming OpenCV's data directory (holding `haarcascades/`).
pub const DATA_ENV: &str = "VPROG_OPENCV_DATA";
/// Where Debian's `opencv-data` installs the cascades' parent directory.
pub const DEFAULT_DATA_DIR: &str = "/usr/share/opencv4";

/// Which detector a label runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    /// OpenCV's HOG people detector (compiled into OpenCV, no file).
    HogPeople,
    /// A Haar cascade file under `haarcascades/`.
    Haar(&'static str),
}

/// A supported label: its canonical name, accepted synonyms and detector.
#[derive(Debug, Clone, Copy)]
pub struct LabelSpec {
    /// The label put on boxes.
    pub name: &'static str,
    /// Other spellings accepted (after lowercasing and turning `_`/`-` into spaces).
    pub synonyms: &'static [&'static str],
    /// What finds it.
    pub detector: Detector,
}

/// Every label `detect` supports.
pub const LABELS: &[LabelSpec] = &[
    LabelSpec {
        name: "person",
        synonyms: &["persons", "people", "pedestrian", "pedestrians", "human", "humans", "man", "woman", "men", "women"],
        detector: Detector::HogPeople,
    },
    LabelSpec {
        name: "face",
        synonyms: &["faces", "frontal face", "human face"],
        detector: Detector::Haar("haarcascade_frontalface_default.xml"),
    },
    LabelSpec {
        name: "profile face",
        synonyms: &["profile faces", "profile", "side face"],
        detector: Detector::Haar("haarcascade_profileface.xml"),
    },
    LabelSpec { name: "eye", synonyms: &["eyes"], detector: Detector::Haar("haarcascade_eye.xml") },
    LabelSpec {
        name: "eye with glasses",
        synonyms: &["eyes with glasses", "eyeglasses", "glasses"],
        detector: Detector::Haar("haarcascade_eye_tree_eyeglasses.xml"),
    },
    LabelSpec { name: "smile", synonyms: &["smiles", "smiling"], detector: Detector::Haar("haarcascade_smile.xml") },
    LabelSpec {
        name: "full body",
        synonyms: &["full bodies", "body", "bodies", "fullbody"],
        detector: Detector::Haar("haarcascade_fullbody.xml"),
    },
    LabelSpec {
        name: "upper body",
        synonyms: &["upper bodies", "upperbody", "torso"],
        detector: Detector::Haar("haarcascade_upperbody.xml"),
    },
    LabelSpec {
        name: "lower body",
        synonyms: &["lower bodies", "lowerbody", "legs"],
        detector: Detector::Haar("haarcascade_lowerbody.xml"),
    },
    LabelSpec {
        name: "cat face",
        synonyms: &["cat faces", "cat", "cats"],
        detector: Detector::Haar("haarcascade_frontalcatface_extended.xml"),
    },
    LabelSpec {
        name: "licence plate",
        synonyms: &["licence plates", "license plate", "license plates", "number plate", "number plates", "plate", "plates"],
        detector: Detector::Haar("haarcascade_russian_plate_number.xml"),
    },
];

/// The canonical names of every supported label, comma-separated.
pub fn supported_labels() -> String {
    LABELS.iter().map(|l| l.name).collect::<Vec<_>>().join(", ")
}

/// Finds a label: case-insensitive, `_`/`-` as spaces, synonyms accepted.
pub fn lookup_label(label: &str) -> Option<&'static LabelSpec> {
    let norm: String = label.trim().to_lowercase().replace(['_', '-'], " ").split_whitespace().collect::<Vec<_>>().join(" ");
    LABELS.iter().find(|l| l.name == norm || l.synonyms.contains(&norm.as_str()))
}

/// The directory holding the Haar cascade files.
pub fn cascade_dir() -> PathBuf {
    let base = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty()).map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), PathBuf::from);
    base.join("haarcascades")
}

/// The path of a cascade file, or [`ModuleError::MissingModel`] naming the package that installs it.
pub fn cascade_path(file: &str) -> Result<PathBuf, ModuleError> {
    cascade_path_in(&cascade_dir(), file)
}

/// The path of cascade `file` in `dir`, or [`ModuleError::MissingModel`] naming `opencv-data`.
pub fn cascade_path_in(dir: &std::path::Path, file: &str) -> Result<PathBuf, ModuleError> {
    let path = dir.join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModuleError::MissingModel {
            model: format!("OpenCV Haar cascade {file}"),
            install: format!(
                "it is not at {}; install it with `sudo apt-get install opencv-data` (or set {DATA_ENV} to the directory holding haarcascades/)",
                path.display()
            ),
        })
    }
}

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectParams {
    /// Boxes scoring below this are dropped.
    pub min_score: f32,
    /// Frame enlargement factor before detection; `0` picks it per detector (see the module doc).
    pub upscale: f64,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams { min_score: DEFAULT_MIN_SCORE, upscale: 0.0 }
    }
}

/// Default `min_score`.
pub const DEFAULT_MIN_SCORE: f32 = 0.25;
/// Step between HOG pyramid levels (OpenCV's default is 1.05; 1.1 halves the cost).
pub const HOG_SCALE: f64 = 1.1;
/// IoU above which the lower-scoring of two boxes is suppressed.
pub const NMS_IOU: f32 = 0.45;
/// Share of a box's area inside a higher-scoring box above which it is suppressed.
pub const NMS_CONTAINED: f32 = 0.8;

/// The factor frames of height `height` are enlarged by with `upscale = 0`.
pub fn auto_upscale(detector: Detector, height: u32) -> f64 {
    let h = f64::from(height.max(1));
    match detector {
        Detector::HogPeople => (1152.0 / h).clamp(1.0, 3.0),
        Detector::Haar(_) => (720.0 / h).clamp(1.0, 2.0),
    }
}

/// A loaded detector (not `Send`: one per worker thread).
enum Loaded {
    Hog(HOGDescriptor),
    Haar(CascadeClassifier),
}

fn load(detector: Detector) -> Result<Loaded, ModuleError> {
    match detector {
        Detector::HogPeople => {
            let mut hog = HOGDescriptor::default().map_err(cv_err("creating the HOG descriptor"))?;
            let svm = HOGDescriptor::get_default_people_detector().map_err(cv_err("loading the HOG people detector"))?;
            hog.set_svm_detector(svm);
            Ok(Loaded::Hog(hog))
        }
        Detector::Haar(file) => {
            let path = cascade_path(file)?;
            let bad = |reason: String| ModuleError::BadModel { model: format!("OpenCV Haar cascade {file}"), path: path.clone(), reason };
            let path_str = path.to_str().ok_or_else(|| bad("the path is not UTF-8".into()))?;
            let c = CascadeClassifier::new(path_str).map_err(|e| bad(e.to_string()))?;
            if c.empty().map_err(|e| bad(e.to_string()))? {
                return Err(bad("OpenCV could not load it as a cascade".into()));
            }
            Ok(Loaded::Haar(c))
        }
    }
}

/// Runs the detector for `spec` over `frames` on the calling thread.
///
/// # Errors
///
/// [`ModuleError::MissingModel`] / [`ModuleError::BadModel`] for a missing or
/// damaged cascade, [`ModuleError::InvalidArgument`] for a frame whose pixel
/// buffer does not match its size, [`ModuleError::Failed`] for OpenCV errors.
pub fn detect_frames(frames: &[Frame], spec: &LabelSpec, params: &DetectParams) -> Result<Vec<FrameDetections>, ModuleError> {
    detect_frames_with(frames, spec, params, &mut || {})
}

fn detect_frames_with(
    frames: &[Frame],
    spec: &LabelSpec,
    params: &DetectParams,
    on_frame: &mut dyn FnMut(),
) -> Result<Vec<FrameDetections>, ModuleError> {
    if frames.is_empty() {
        return Ok(Vec::new());
    }
    let mut loaded = load(spec.detector)?;
    let mut out = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        check_frame("frames", i, f)?;
        let factor = if params.upscale > 0.0 { params.upscale } else { auto_upscale(spec.detector, f.height) };
        let gray = gray_mat(f)?;
        let interp = if factor > 1.0 { imgproc::INTER_LINEAR } else { imgproc::INTER_AREA };
        let img = scaled(&gray, factor, interp)?;
        let raw = match &mut loaded {
            Loaded::Hog(hog) => hog_boxes(hog, &img)?,
            Loaded::Haar(c) => haar_boxes(c, &img)?,
        };
        let inv = 1.0 / factor as f32;
        let (fw, fh) = (f.width as f32, f.height as f32);
        let boxes: Vec<BBox> = raw
            .into_iter()
            .filter(|(_, s)| *s >= params.min_score)
            .filter_map(|(r, score)| {
                // Back to frame pixels, clipped to the frame.
                let x0 = (r.x as f32 * inv).clamp(0.0, fw);
                let y0 = (r.y as f32 * inv).clamp(0.0, fh);
                let x1 = ((r.x + r.width) as f32 * inv).clamp(0.0, fw);
                let y1 = ((r.y + r.height) as f32 * inv).clamp(0.0, fh);
                (x1 - x0 >= 1.0 && y1 - y0 >= 1.0).then(|| BBox {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                    label: spec.name.to_string(),
                    score,
                })
            })
            .collect();
        out.push(FrameDetections { time: f.time, width: f.width, height: f.height, boxes: nms(boxes) });
        on_frame();
    }
    Ok(out)
}

/// HOG windows with scores `1 - exp(-w)`.
fn hog_boxes(hog: &HOGDescriptor, img: &Mat) -> Result<Vec<(Rect, f32)>, ModuleError> {
    let (w, h) = (img.cols(), img.rows());
    if w < 64 || h < 128 {
        return Ok(Vec::new());
    }
    let mut rects = Vector::<Rect>::new();
    let mut weights = Vector::<f64>::new();
    hog.detect_multi_scale_weights(img, &mut rects, &mut weights, 0.0, Size::new(8, 8), Size::new(16, 16), HOG_SCALE, 2.0, false)
        .map_err(cv_err("HOG people detection"))?;
    Ok(rects.iter().zip(weights.iter()).map(|(r, w)| (r, (1.0 - (-w.max(0.0)).exp()) as f32)).collect())
}

/// Haar boxes with scores `n / (n + 3)` from their neighbour counts.
fn haar_boxes(c: &mut CascadeClassifier, gray: &Mat) -> Result<Vec<(Rect, f32)>, ModuleError> {
    let mut eq = Mat::default();
    imgproc::equalize_hist(gray, &mut eq).map_err(cv_err("equalising a frame"))?;
    let mut rects = Vector::<Rect>::new();
    let mut neighbours = Vector::<i32>::new();
    c.detect_multi_scale2(&eq, &mut rects, &mut neighbours, 1.1, 3, 0, Size::default(), Size::default())
        .map_err(cv_err("Haar cascade detection"))?;
    Ok(rects
        .iter()
        .zip(neighbours.iter())
        .map(|(r, n)| {
            let n = n.max(0) as f32;
            (r, n / (n + 3.0))
        })
        .collect())
}

/// Greedy non-maximum suppression: highest score first; a box is dropped when
/// its IoU with a kept box exceeds [`NMS_IOU`] or it lies [`NMS_CONTAINED`] inside one.
pub fn nms(mut boxes: Vec<BBox>) -> Vec<BBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<BBox> = Vec::with_capacity(boxes.len());
    for b in boxes {
        let suppressed = kept.iter().any(|k| {
            let ix = ((b.x + b.w).min(k.x + k.w) - b.x.max(k.x)).max(0.0);
            let iy = ((b.y + b.h).min(k.y + k.h) - b.y.max(k.y)).max(0.0);
            let inter = ix * iy;
            let smaller = (b.w * b.h).min(k.w * k.h).max(1e-6);
            b.iou(k) > NMS_IOU || inter / smaller > NMS_CONTAINED
        });
        if !suppressed {
            kept.push(b);
        }
    }
    kept
}

const DOC: &str = "Finds objects of one kind in frames with OpenCV's classic detectors: the HOG people detector for \"person\", Haar cascades for faces and the rest.
`label` (case-insensitive; `_`/`-` read as spaces; synonyms such as people/pedestrian → person, body → full body, \
license plate → licence plate) picks the detector: person (HOG + linear SVM, 64x128 window), face (frontal), profile face, eye, \
eye with glasses, smile, full body, upper body, lower body, cat face, licence plate (Haar cascades from the Debian \
`opencv-data` package, looked up in $VPROG_OPENCV_DATA/haarcascades, default /usr/share/opencv4). An unknown label is an \
error listing the supported ones; a missing cascade file is a missing-model error naming `apt-get install opencv-data`. \
Returns one entry per frame (frames without boxes included), boxes in the frames' pixel coordinates labelled with the \
canonical name. Scores: person = 1 − exp(−w) of the SVM margin w (0.5 → 0.39, 1 → 0.63, 2 → 0.86); Haar = n/(n+3) for \
n merged neighbour hits (always ≥ 0.5). Boxes below `min_score` are dropped, then overlapping boxes are suppressed (IoU > 0.45 \
or 80% inside a better one). `upscale` enlarges frames first so small objects reach the detector window; 0 (auto) uses \
clamp(1152/height, 1, 3) for person (768x576 → 2x: pedestrians ~70 px tall are otherwise missed) and clamp(720/height, 1, 2) \
for the cascades. Cost grows with upscale²; frames run in parallel, one chunk per core. No frames → empty Detections.";

/// `detect(frames, label = "person", min_score = 0.25, upscale = 0)`.
pub struct Detect {
    sig: Signature,
}

impl Default for Detect {
    fn default() -> Self {
        Detect::new()
    }
}

impl Detect {
    /// The module with its signature.
    pub fn new() -> Detect {
        let sig = Signature::new("detect", "1.0.0", Returns::Is(Type::Detections), DOC)
            .param(Param::of("frames", Type::Frames, "The frames to search."))
            .param(
                Param::of("label", Type::Text, "What to find: person, face, profile face, eye, smile, full body, upper body, ...")
                    .default(Value::text("person")),
            )
            .param(
                Param::of("min_score", Type::Number, "Boxes scoring below this (0 to 1) are dropped.")
                    .default(Value::Number(f64::from(DEFAULT_MIN_SCORE)))
                    .range(0.0, 1.0)
                    .searchable(0.1, 0.8),
            )
            .param(
                Param::of("upscale", Type::Number, "Enlarge frames by this factor before detecting; 0 = automatic per detector.")
                    .default(Value::Number(0.0))
                    .range(0.0, 4.0)
                    .searchable(1.0, 3.0),
            )
            .cache(CachePolicy::Disk);
        Detect { sig }
    }
}

#[async_trait]
impl Module for Detect {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let frames = args.frames("frames")?;
        let label = args.text("label")?;
        let spec = *lookup_label(&label).ok_or_else(|| {
            ModuleError::invalid("label", format!("detect has no detector for `{label}`; supported labels: {}", supported_labels()))
        })?;
        let min_score = args.number("min_score")?;
        let upscale = args.number("upscale")?;
        if !(0.0..=1.0).contains(&min_score) {
            return Err(ModuleError::invalid("min_score", format!("must be between 0 and 1, got {min_score}")));
        }
        if !(0.0..=4.0).contains(&upscale) || (upscale > 0.0 && upscale < 0.25) {
            return Err(ModuleError::invalid("upscale", format!("must be 0 (automatic) or between 0.25 and 4, got {upscale}")));
        }
        let params = DetectParams { min_score: min_score as f32, upscale };
        if frames.is_empty() {
            ctx.note("detect", "no frames: empty result");
            return Ok(Value::Detections(Arc::new(Detections::default())));
        }
        if let Detector::Haar(file) = spec.detector {
            cascade_path(file)?;
        }
        let started = std::time::Instant::now();
        let n = frames.len();
        ctx.progress.set_length(n as u64);
        let progress = ctx.progress.clone();
        let shared = frames.clone();
        let results = map_chunks(ctx, n, move |range| {
            let progress = progress.clone();
            detect_frames_with(&shared[range], &spec, &params, &mut || progress.inc(1))
        })
        .await;
        ctx.progress.finish();
        let results = results?;
        let boxes: usize = results.iter().map(|f| f.boxes.len()).sum();
        let secs = started.elapsed().as_secs_f64();
        let factor = if upscale > 0.0 { upscale } else { frames.first().map_or(1.0, |f| auto_upscale(spec.detector, f.height)) };
        ctx.note(
            "detect",
            serde_json::json!({
                "label": spec.name,
                "detector": match spec.detector { Detector::HogPeople => "opencv:hog-people".to_string(), Detector::Haar(f) => format!("opencv:haar:{f}") },
                "frames": n,
                "boxes": boxes,
                "frames_with_boxes": results.iter().filter(|f| !f.boxes.is_empty()).count(),
                "upscale": factor,
                "seconds": secs,
                "frames_per_second": if secs > 0.0 { n as f64 / secs } else { 0.0 },
            }),
        );
        Ok(Value::Detections(Arc::new(Detections { frames: results })))
    }
}
