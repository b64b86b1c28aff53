//! `detect(frames, label)`: objects in frames, by a COCO-80 detector or by
//! OpenCV's classic detectors.
//!
//! # Detectors
//!
//! `detector: "auto"` (the default) runs **CenterNet** ([`super::centernet`],
//! model `centernet-coco`, on candle) for every label naming COCO classes
//! ([`super::objects::coco_query`]: the 80 class names, plurals, synonyms
//! such as man/woman/child → person, bike → bicycle, sofa → couch, group
//! words such as vehicle or animal; an empty label or `"all"` asks for all
//! 80) and the classic detectors below for the labels COCO lacks (faces,
//! eyes, bodies, licence plates). When `centernet-coco` is not installed, a
//! COCO label that a classic detector also knows (person, cat) falls back to
//! it and the trace's `detect` note says so and names the install command;
//! otherwise the missing model is an error naming it. `"centernet"` and
//! `"classic"` pick one.
//!
//! CenterNet boxes: see [`super::objects`] (frames letterboxed into
//! 512×512, heatmap peaks above `min_score` (default 0.3),
//! per-class NMS at IoU `nms_iou`, at most `max_boxes` per frame). Score: the
//! class heatmap's value at the peak (sigmoid, 0–1).
//!
//! # Classic detectors
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
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opencv::core::{Mat, Rect, Size, Vector};
use opencv::imgproc;
use opencv::objdetect::{CascadeClassifier, HOGDescriptor};
use opencv::prelude::*;
use vprog_runtime::value::{BBox, Detections, Frame, FrameDetections};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use vprog_models::catalog::CENTERNET_COCO;

use super::centernet::{CenterNet, COCO_LABELS};
use super::objects::{self, coco_query, detect_objects, ObjectParams};
use super::{check_frame, cv_err, gray_mat, map_chunks, scaled};
use crate::model_store::{locate, ModelStore};

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

/// Every label `detect` accepts with its `auto` detector, normalised: the
/// COCO words ([`objects::coco_words`]) and the classic labels with their
/// synonyms.
pub fn accepted_labels() -> Vec<String> {
    let classic = LABELS.iter().flat_map(|l| std::iter::once(l.name).chain(l.synonyms.iter().copied())).map(str::to_string);
    objects::coco_words().into_iter().chain(classic).collect()
}

/// Finds a label: case-insensitive, `_`/`-` as spaces, synonyms accepted.
pub fn lookup_label(label: &str) -> Option<&'static LabelSpec> {
    let norm = objects::normalise(label);
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
    detect_frames_with(frames, spec, params, &mut || Ok(()))
}

fn detect_frames_with(
    frames: &[Frame],
    spec: &LabelSpec,
    params: &DetectParams,
    on_frame: &mut dyn FnMut() -> Result<(), ModuleError>,
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
        on_frame()?;
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

const DOC: &str = "Finds objects in frames. With `detector: \"auto\"` (default), labels naming COCO classes run CenterNet \
(model `centernet-coco`, a COCO-80 detector on candle): the 80 COCO names (person, bicycle, car, motorcycle, bus, truck, dog, \
cat, bird, cup, bottle, chair, couch, tv, laptop, cell phone, book, ...), plurals, synonyms (man/woman/child/people → person, \
bike → bicycle, automobile → car, puppy → dog, sofa → couch, table → dining table, phone → cell phone, ...) and group words \
(vehicle, animal, pet, bag, food, fruit, furniture, seat) that return boxes of each member class; label \"\" or \"all\" (the \
default) returns every class. Other labels run OpenCV's classic detectors: face (frontal), profile face, eye, eye with \
glasses, smile, full body, upper body, lower body, cat face, licence plate (Haar cascades) and, with `detector: \"classic\"`, \
person (HOG). An unknown label is an error listing what is supported. CenterNet: frames letterboxed into 512x512, heatmap peaks \
scoring ≥ min_score (the peak's class probability, 0-1; default 0.3), per-class NMS at IoU nms_iou, at most max_boxes per frame, boxes in \
the frames' pixels labelled with their class. When centernet-coco is not installed, person and cat (and \"all\", as person) fall back to the classic \
detectors (the trace says so and names `vprog models fetch centernet-coco`); other COCO labels are then an error naming it. \
Classic scores (default min_score 0.25): person = 1 − exp(−w) of the HOG SVM margin; Haar = n/(n+3) for n merged hits (≥ 0.5); `upscale` enlarges \
frames first for the classic detectors only (0 = automatic). Returns one entry per frame, frames without boxes included. \
No frames → empty Detections.";

/// The classic detector standing in for CenterNet when it is not installed:
/// the label's own (person, cat) or, for "all", the HOG people detector.
fn classic_stand_in(label: &str) -> Option<&'static LabelSpec> {
    if objects::ALL_WORDS.contains(&objects::normalise(label).as_str()) {
        lookup_label("person")
    } else {
        lookup_label(label)
    }
}

/// `detect(frames, label = "", detector = "auto", min_score = 0 (per detector), nms_iou = 0.5, max_boxes = 100, upscale = 0)`.
pub struct Detect {
    sig: Signature,
    store: Arc<ModelStore>,
    centernet: Mutex<Option<(PathBuf, Arc<CenterNet>)>>,
}

/// What a call runs, resolved from `label` and `detector`.
enum Plan {
    /// CenterNet for these COCO classes.
    Coco(Arc<CenterNet>, Vec<usize>),
    /// A classic detector, with the reason when it stands in for CenterNet.
    Classic(LabelSpec, Option<String>),
}

impl Detect {
    /// The module with its signature; CenterNet comes from `store`.
    pub fn new(store: Arc<ModelStore>) -> Detect {
        let sig = Signature::new("detect", "1.1.0", Returns::Is(Type::Detections), DOC)
            .param(Param::of("frames", Type::Frames, "The frames to search."))
            .param(
                Param::of(
                    "label",
                    Type::Text,
                    "What to find: a COCO class (person, car, dog, cup, ...), a synonym or group word (man, bike, vehicle, animal), \
face, eye, licence plate, ...; \"\" or \"all\" = every COCO class.",
                )
                .default(Value::text(""))
                .values(accepted_labels()),
            )
            .param(
                Param::of("detector", Type::Text, "auto (CenterNet for COCO labels, classic for the rest), centernet or classic.")
                    .default(Value::text("auto")),
            )
            .param(
                Param::of(
                    "min_score",
                    Type::Number,
                    "Boxes scoring below this (0 to 1) are dropped; 0 = the detector's default (CenterNet 0.3, classic 0.25).",
                )
                .default(Value::Number(0.0))
                .range(0.0, 1.0)
                .searchable(0.1, 0.8),
            )
            .param(
                Param::of(
                    "nms_iou",
                    Type::Number,
                    "CenterNet: of two boxes of one class overlapping more than this IoU, the weaker is dropped.",
                )
                .default(Value::Number(f64::from(objects::DEFAULT_NMS_IOU)))
                .range(0.1, 1.0)
                .searchable(0.3, 0.7),
            )
            .param(
                Param::of("max_boxes", Type::Int, "CenterNet: the most boxes kept per frame, best first.")
                    .default(Value::Int(objects::DEFAULT_MAX_BOXES as i64))
                    .range(1.0, 1000.0),
            )
            .param(
                Param::of("upscale", Type::Number, "Classic detectors: enlarge frames by this factor first; 0 = automatic per detector.")
                    .default(Value::Number(0.0))
                    .range(0.0, 4.0)
                    .searchable(1.0, 3.0),
            )
            .cache(CachePolicy::Disk);
        Detect { sig, store, centernet: Mutex::new(None) }
    }

    /// The installed CenterNet, loaded once.
    fn load_centernet(&self) -> Result<Arc<CenterNet>, ModuleError> {
        let dir = locate(&self.store, CENTERNET_COCO)?.dir;
        let mut slot = self.centernet.lock().map_err(|_| ModuleError::Failed("detect: CenterNet slot poisoned".into()))?;
        if let Some((loaded_from, m)) = slot.as_ref() {
            if *loaded_from == dir {
                return Ok(m.clone());
            }
        }
        let m = Arc::new(CenterNet::load(&dir, &candle_core::Device::Cpu)?);
        *slot = Some((dir, m.clone()));
        Ok(m)
    }

    /// Resolves `label` and `detector` into what runs.
    fn plan(&self, label: &str, detector: &str) -> Result<Plan, ModuleError> {
        let unknown = || {
            ModuleError::invalid(
                "label",
                format!(
                    "detect has no detector for `{label}`; supported: the 80 COCO classes ({}), their synonyms and group words \
(vehicle, animal, ...), \"all\", and the classic labels {}",
                    COCO_LABELS.join(", "),
                    supported_labels()
                ),
            )
        };
        match detector {
            "classic" => lookup_label(label).copied().map(|spec| Plan::Classic(spec, None)).ok_or_else(|| {
                ModuleError::invalid("label", format!("the classic detectors have no `{label}`; they know: {}", supported_labels()))
            }),
            "centernet" => {
                let classes = coco_query(label).ok_or_else(|| {
                    ModuleError::invalid("label", format!("`{label}` is not a COCO class; CenterNet knows: {}", COCO_LABELS.join(", ")))
                })?;
                Ok(Plan::Coco(self.load_centernet()?, classes))
            }
            "auto" => match coco_query(label) {
                Some(classes) => match self.load_centernet() {
                    Ok(net) => Ok(Plan::Coco(net, classes)),
                    Err(ModuleError::MissingModel { install, .. }) if classic_stand_in(label).is_some() => {
                        let spec = *classic_stand_in(label).ok_or_else(unknown)?;
                        Ok(Plan::Classic(
                            spec,
                            Some(format!(
                                "the COCO detector (`{CENTERNET_COCO}`) is not installed, so OpenCV's classic `{}` detector ran; to use it, {install}",
                                spec.name
                            )),
                        ))
                    }
                    Err(e) => Err(e),
                },
                None => lookup_label(label).copied().map(|spec| Plan::Classic(spec, None)).ok_or_else(unknown),
            },
            other => Err(ModuleError::invalid("detector", format!("expected auto, centernet or classic, got `{other}`"))),
        }
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
        let detector = args.text("detector")?.trim().to_lowercase();
        let min_score = args.number("min_score")?;
        let nms_iou = args.number("nms_iou")?;
        let max_boxes = args.int("max_boxes")?;
        let upscale = args.number("upscale")?;
        if !(0.0..=1.0).contains(&min_score) {
            return Err(ModuleError::invalid("min_score", format!("must be between 0 and 1, got {min_score}")));
        }
        if !(0.1..=1.0).contains(&nms_iou) {
            return Err(ModuleError::invalid("nms_iou", format!("must be between 0.1 and 1, got {nms_iou}")));
        }
        if !(1..=1000).contains(&max_boxes) {
            return Err(ModuleError::invalid("max_boxes", format!("must be between 1 and 1000, got {max_boxes}")));
        }
        if !(0.0..=4.0).contains(&upscale) || (upscale > 0.0 && upscale < 0.25) {
            return Err(ModuleError::invalid("upscale", format!("must be 0 (automatic) or between 0.25 and 4, got {upscale}")));
        }
        let plan = self.plan(&label, &detector)?;
        if frames.is_empty() {
            ctx.note("detect", "no frames: empty result");
            return Ok(Value::Detections(Arc::new(Detections::default())));
        }
        let started = std::time::Instant::now();
        let n = frames.len();
        ctx.progress.set_length(n as u64);
        let progress = ctx.progress.clone();
        let shared = frames.clone();
        let (results, mut note) = match plan {
            Plan::Coco(net, classes) => {
                let min_score = if min_score > 0.0 { min_score } else { f64::from(objects::DEFAULT_MIN_SCORE) };
                let params = ObjectParams {
                    min_score: min_score as f32,
                    nms_iou: nms_iou as f32,
                    max_boxes: max_boxes as usize,
                    ..ObjectParams::default()
                };
                let asked: Vec<&str> = classes.iter().map(|&c| COCO_LABELS[c]).collect();
                let note = serde_json::json!({
                    "label": label,
                    "classes": if asked.len() == COCO_LABELS.len() { serde_json::json!("all 80 COCO classes") } else { serde_json::json!(asked) },
                    "detector": format!("tfjs-candle:{CENTERNET_COCO}"),
                    "fit": "letterbox into 512x512",
                    "min_score": min_score,
                    "nms_iou": nms_iou,
                });
                let stop = ctx.stop_signal();
                let results = ctx
                    .blocking(move || {
                        detect_objects(&net, &shared, &classes, &params, &mut || {
                            progress.inc(1);
                            stop.check()
                        })
                    })
                    .await;
                (results, note)
            }
            Plan::Classic(spec, fallback) => {
                if let Detector::Haar(file) = spec.detector {
                    cascade_path(file)?;
                }
                let min_score = if min_score > 0.0 { min_score } else { f64::from(DEFAULT_MIN_SCORE) };
                let params = DetectParams { min_score: min_score as f32, upscale };
                let stop = ctx.stop_signal();
                let results = map_chunks(ctx, n, move |range| {
                    let progress = progress.clone();
                    detect_frames_with(&shared[range], &spec, &params, &mut || {
                        progress.inc(1);
                        stop.check()
                    })
                })
                .await;
                let factor = if upscale > 0.0 { upscale } else { frames.first().map_or(1.0, |f| auto_upscale(spec.detector, f.height)) };
                let mut note = serde_json::json!({
                    "label": spec.name,
                    "detector": match spec.detector { Detector::HogPeople => "opencv:hog-people".to_string(), Detector::Haar(f) => format!("opencv:haar:{f}") },
                    "upscale": factor,
                    "min_score": min_score,
                });
                if let Some(why) = fallback {
                    note["fallback"] = serde_json::json!(why);
                }
                (results, note)
            }
        };
        ctx.progress.finish();
        let results = results?;
        let secs = started.elapsed().as_secs_f64();
        note["frames"] = serde_json::json!(n);
        note["boxes"] = serde_json::json!(results.iter().map(|f| f.boxes.len()).sum::<usize>());
        note["frames_with_boxes"] = serde_json::json!(results.iter().filter(|f| !f.boxes.is_empty()).count());
        note["seconds"] = serde_json::json!(secs);
        note["frames_per_second"] = serde_json::json!(if secs > 0.0 { n as f64 / secs } else { 0.0 });
        ctx.note("detect", note);
        Ok(Value::Detections(Arc::new(Detections { frames: results })))
    }
}

#[cfg(test)]
mod label_tests {
    use super::*;

    /// The labels the checker accepts are exactly ones the detector resolves.
    #[test]
    fn every_accepted_label_resolves() {
        let labels = accepted_labels();
        assert!(labels.len() > 250, "{}", labels.len());
        for l in &labels {
            assert!(coco_query(l).is_some() || lookup_label(l).is_some(), "{l}");
        }
        for l in ["", "all", "person", "people", "dogs", "buses", "dining table", "vehicle", "face", "licence plate"] {
            assert!(labels.iter().any(|x| x == l), "{l}");
        }
        assert!(!labels.iter().any(|x| x == "white" || x == "unicorn"));
    }
}
