//! COCO-80 object detection on frames with [`CenterNet`]: what a label
//! means ([`coco_query`]), how a frame becomes the network's input
//! (stretched or letterboxed), and how peaks become boxes in the frame's
//! pixels (score threshold, per-class non-maximum suppression, a cap per
//! frame).
//!
//! # Labels
//!
//! A label is lowercased, `_`/`-` read as spaces and runs of spaces
//! collapsed. It names one COCO class by its name ("dining table"), by a
//! plural made with `s`/`es` ("cars", "buses"), or by a synonym of
//! [`SYNONYMS`] ("man" → person, "bike" → bicycle, "sofa" → couch). A few
//! group words name several classes ([`GROUPS`]: "vehicle", "animal", "bag",
//! …); boxes then carry their own class name. `""`, `"all"`, `"any"`,
//! `"object"` and `"objects"` ask for all 80.

use candle_core::Tensor;
use vprog_runtime::value::{BBox, Frame, FrameDetections};
use vprog_runtime::ModuleError;

use super::centernet::{decode, resize_legacy, CenterNet, COCO_LABELS};
use super::check_frame;

/// Synonyms of single COCO classes: `(word, class name)`.
pub const SYNONYMS: &[(&str, &str)] = &[
    ("people", "person"),
    ("human", "person"),
    ("man", "person"),
    ("men", "person"),
    ("woman", "person"),
    ("women", "person"),
    ("child", "person"),
    ("children", "person"),
    ("kid", "person"),
    ("boy", "person"),
    ("girl", "person"),
    ("baby", "person"),
    ("lady", "person"),
    ("ladies", "person"),
    ("guy", "person"),
    ("adult", "person"),
    ("pedestrian", "person"),
    ("player", "person"),
    ("rider", "person"),
    ("cyclist", "person"),
    ("speaker", "person"),
    ("someone", "person"),
    ("somebody", "person"),
    ("bike", "bicycle"),
    ("cycle", "bicycle"),
    ("automobile", "car"),
    ("taxi", "car"),
    ("cab", "car"),
    ("sedan", "car"),
    ("motorbike", "motorcycle"),
    ("scooter", "motorcycle"),
    ("moped", "motorcycle"),
    ("plane", "airplane"),
    ("aeroplane", "airplane"),
    ("aircraft", "airplane"),
    ("jet", "airplane"),
    ("lorry", "truck"),
    ("ship", "boat"),
    ("tram", "train"),
    ("locomotive", "train"),
    ("puppy", "dog"),
    ("puppies", "dog"),
    ("kitten", "cat"),
    ("kitty", "cat"),
    ("pony", "horse"),
    ("lamb", "sheep"),
    ("calf", "cow"),
    ("calves", "cow"),
    ("cattle", "cow"),
    ("sofa", "couch"),
    ("settee", "couch"),
    ("table", "dining table"),
    ("desk", "dining table"),
    ("television", "tv"),
    ("tv monitor", "tv"),
    ("monitor", "tv"),
    ("screen", "tv"),
    ("phone", "cell phone"),
    ("mobile phone", "cell phone"),
    ("cellphone", "cell phone"),
    ("smartphone", "cell phone"),
    ("telephone", "cell phone"),
    ("plant", "potted plant"),
    ("houseplant", "potted plant"),
    ("ball", "sports ball"),
    ("football", "sports ball"),
    ("soccer ball", "sports ball"),
    ("basketball", "sports ball"),
    ("mug", "cup"),
    ("fridge", "refrigerator"),
    ("hair dryer", "hair drier"),
    ("hairdryer", "hair drier"),
    ("doughnut", "donut"),
    ("hotdog", "hot dog"),
    ("notebook computer", "laptop"),
    ("computer mouse", "mouse"),
    ("remote control", "remote"),
    ("teddy", "teddy bear"),
];

/// Words naming several COCO classes: `(word, class names)`.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("vehicle", &["bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"]),
    ("van", &["car", "truck"]),
    ("animal", &["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"]),
    ("pet", &["cat", "dog"]),
    ("bag", &["backpack", "handbag", "suitcase"]),
    ("luggage", &["backpack", "handbag", "suitcase"]),
    ("food", &["banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake"]),
    ("fruit", &["banana", "apple", "orange"]),
    ("furniture", &["chair", "couch", "bed", "dining table"]),
    ("seat", &["chair", "couch", "bench"]),
];

/// Labels asking for every class.
pub const ALL_WORDS: &[&str] = &["", "all", "any", "object", "objects", "thing", "things", "everything"];

/// `label` lowercased, `_`/`-` as spaces, spaces collapsed.
pub fn normalise(label: &str) -> String {
    vprog_runtime::normalise_text_value(label)
}

fn class_of(name: &str) -> Option<usize> {
    COCO_LABELS.iter().position(|l| *l == name)
}

fn single(word: &str) -> Option<usize> {
    class_of(word).or_else(|| SYNONYMS.iter().find(|(w, _)| *w == word).and_then(|(_, c)| class_of(c)))
}

fn group(word: &str) -> Option<Vec<usize>> {
    GROUPS.iter().find(|(w, _)| *w == word).map(|(_, cs)| cs.iter().filter_map(|c| class_of(c)).collect())
}

/// The COCO classes `label` asks for (sorted, 0-based), `None` when it
/// names none. Every class for the words of [`ALL_WORDS`].
pub fn coco_query(label: &str) -> Option<Vec<usize>> {
    let word = normalise(label);
    if ALL_WORDS.contains(&word.as_str()) {
        return Some((0..COCO_LABELS.len()).collect());
    }
    let mut candidates = vec![word.clone()];
    if let Some(stem) = word.strip_suffix("es") {
        candidates.push(stem.to_string());
    }
    if let Some(stem) = word.strip_suffix('s') {
        candidates.push(stem.to_string());
    }
    for w in &candidates {
        if let Some(c) = single(w) {
            return Some(vec![c]);
        }
        if let Some(g) = group(w) {
            return Some(g);
        }
    }
    None
}

/// The labels `detect` declares ([`vprog_runtime::Param::values`]),
/// normalised: the class names, synonyms and group words, each with its
/// regular English plural (`es` after s, x, z, ch, sh; else `s`), and the
/// words for all classes. [`coco_query`] resolves every one (it also takes
/// the odd plural, "bages", that the declared list leaves out).
pub fn coco_words() -> Vec<String> {
    let bases = ALL_WORDS.iter().chain(COCO_LABELS.iter()).chain(SYNONYMS.iter().map(|(w, _)| w)).chain(GROUPS.iter().map(|(w, _)| w));
    let plural =
        |w: &str| if w.ends_with(['s', 'x', 'z']) || w.ends_with("ch") || w.ends_with("sh") { format!("{w}es") } else { format!("{w}s") };
    let mut out: Vec<String> =
        bases.flat_map(|w| [w.to_string(), plural(w)]).map(|w| normalise(&w)).filter(|w| coco_query(w).is_some()).collect();
    out.sort();
    out.dedup();
    out
}

/// How frames are fitted to the network's square input. The default,
/// [`Fit::Letterbox`], was chosen on the dev split of `examples/detect`
/// (recall 0.65 against stretching's 0.35 at `min_score` 0.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Stretched to the square, aspect ratio not kept (what the model's
    /// reference library feeds it).
    Stretch,
    /// Scaled to fit with the aspect ratio kept, the rest of the square black
    /// (right and bottom).
    Letterbox,
}

/// Detection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectParams {
    /// Peaks scoring below this are dropped.
    pub min_score: f32,
    /// IoU above which the lower-scoring of two boxes of one class is suppressed.
    pub nms_iou: f32,
    /// Most boxes kept per frame, best first.
    pub max_boxes: usize,
    /// How frames are fitted to the input square.
    pub fit: Fit,
}

/// Default `min_score` for CenterNet, chosen on the dev split of
/// `examples/detect` (`modules/tests/detect_accuracy.rs`: best F1, 0.667,
/// of 0.1–0.4, letterboxed).
pub const DEFAULT_MIN_SCORE: f32 = 0.3;
/// Default per-class NMS IoU.
pub const DEFAULT_NMS_IOU: f32 = 0.5;
/// Default cap on boxes per frame.
pub const DEFAULT_MAX_BOXES: usize = 100;

impl Default for ObjectParams {
    fn default() -> Self {
        ObjectParams { min_score: DEFAULT_MIN_SCORE, nms_iou: DEFAULT_NMS_IOU, max_boxes: DEFAULT_MAX_BOXES, fit: Fit::Letterbox }
    }
}

/// The network input for one frame and the factors that map input pixels
/// back to frame pixels (`x_frame = x_input · sx`).
fn fitted_input(net: &CenterNet, f: &Frame, fit: Fit) -> Result<(Tensor, f32, f32), ModuleError> {
    let (w, h) = (f.width as usize, f.height as usize);
    let side = net.config().input_size;
    match fit {
        Fit::Stretch => Ok((net.input(&f.rgb, w, h)?, w as f32 / side as f32, h as f32 / side as f32)),
        Fit::Letterbox => {
            let scale = side as f64 / w.max(h) as f64;
            let nw = ((w as f64 * scale).round() as usize).clamp(1, side);
            let nh = ((h as f64 * scale).round() as usize).clamp(1, side);
            let small = resize_legacy(&f.rgb, w, h, nw, nh);
            let mut canvas = vec![0f32; side * side * 3];
            for (y, row) in small.chunks_exact(nw * 3).enumerate() {
                canvas[y * side * 3..y * side * 3 + nw * 3].copy_from_slice(row);
            }
            Ok((net.tensor(canvas)?, w as f32 / nw as f32, h as f32 / nh as f32))
        }
    }
}

/// Detects the COCO `classes` in each frame.
///
/// Boxes are in the frame's pixels, clipped to it, labelled with their COCO
/// class name; per frame, best first. `on_frame` is called after each frame.
///
/// # Errors
///
/// [`ModuleError::InvalidArgument`] for a frame whose buffer does not match
/// its size, [`ModuleError::Failed`] when the network fails.
pub fn detect_objects(
    net: &CenterNet,
    frames: &[Frame],
    classes: &[usize],
    params: &ObjectParams,
    on_frame: &mut dyn FnMut() -> Result<(), ModuleError>,
) -> Result<Vec<FrameDetections>, ModuleError> {
    let mut wanted = [false; COCO_LABELS.len()];
    for &c in classes {
        if let Some(w) = wanted.get_mut(c) {
            *w = true;
        }
    }
    let mut out = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        check_frame("frames", i, f)?;
        let (input, sx, sy) = fitted_input(net, f, params.fit)?;
        let (k, s) = net.forward(&input)?;
        let peaks = decode(&k, &s, net.config(), params.min_score, usize::MAX)
            .map_err(|e| ModuleError::Failed(format!("CenterNet decoding, frame {i} ({:.3} s): {e}", f.time)))?;
        let (fw, fh) = (f.width as f32, f.height as f32);
        let boxes: Vec<BBox> = peaks
            .into_iter()
            .filter(|p| wanted[p.class])
            .filter_map(|p| {
                let x0 = (p.x1 * sx).clamp(0.0, fw);
                let y0 = (p.y1 * sy).clamp(0.0, fh);
                let x1 = (p.x2 * sx).clamp(0.0, fw);
                let y1 = (p.y2 * sy).clamp(0.0, fh);
                (x1 - x0 >= 1.0 && y1 - y0 >= 1.0).then(|| BBox {
                    x: x0,
                    y: y0,
                    w: x1 - x0,
                    h: y1 - y0,
                    label: COCO_LABELS[p.class].to_string(),
                    score: p.score,
                })
            })
            .collect();
        let mut kept = nms_per_class(boxes, params.nms_iou);
        kept.truncate(params.max_boxes);
        out.push(FrameDetections { time: f.time, width: f.width, height: f.height, boxes: kept });
        on_frame()?;
    }
    Ok(out)
}

/// Greedy non-maximum suppression within each label: best first, a box is
/// dropped when its IoU with a kept box of its label exceeds `iou`. The
/// result is sorted by score, best first.
pub fn nms_per_class(mut boxes: Vec<BBox>, iou: f32) -> Vec<BBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<BBox> = Vec::with_capacity(boxes.len());
    for b in boxes {
        if !kept.iter().any(|k| k.label == b.label && b.iou(k) > iou) {
            kept.push(b);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(label: &str) -> Option<Vec<&'static str>> {
        coco_query(label).map(|cs| cs.into_iter().map(|c| COCO_LABELS[c]).collect())
    }

    #[test]
    fn labels_synonyms_plurals_and_groups() {
        assert_eq!(names("Person"), Some(vec!["person"]));
        assert_eq!(names("  women "), Some(vec!["person"]));
        assert_eq!(names("bikes"), Some(vec!["bicycle"]));
        assert_eq!(names("Buses"), Some(vec!["bus"]));
        assert_eq!(names("dining_table"), Some(vec!["dining table"]));
        assert_eq!(names("traffic-lights"), Some(vec!["traffic light"]));
        assert_eq!(names("puppies"), Some(vec!["dog"]));
        assert_eq!(names("sofa"), Some(vec!["couch"]));
        assert_eq!(names("vehicles"), Some(vec!["bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"]));
        assert_eq!(names("van"), Some(vec!["car", "truck"]));
        assert_eq!(coco_query("all").map(|c| c.len()), Some(80));
        assert_eq!(coco_query("").map(|c| c.len()), Some(80));
        assert_eq!(names("face"), None);
        assert_eq!(names("unicorn"), None);
    }

    #[test]
    fn every_synonym_and_group_names_real_classes() {
        for (w, c) in SYNONYMS {
            assert!(class_of(c).is_some(), "synonym {w} → unknown class {c}");
        }
        for (w, cs) in GROUPS {
            for c in *cs {
                assert!(class_of(c).is_some(), "group {w} → unknown class {c}");
            }
        }
    }

    #[test]
    fn nms_is_per_class() {
        let b = |x: f32, label: &str, score: f32| BBox { x, y: 0.0, w: 10.0, h: 10.0, label: label.into(), score };
        let kept = nms_per_class(vec![b(0.0, "person", 0.5), b(1.0, "person", 0.9), b(1.0, "dog", 0.3), b(50.0, "person", 0.2)], 0.5);
        let got: Vec<(f32, &str)> = kept.iter().map(|k| (k.x, k.label.as_str())).collect();
        assert_eq!(got, vec![(1.0, "person"), (1.0, "dog"), (50.0, "person")]);
    }
}
