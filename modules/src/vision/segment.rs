//! `segment(frames, label)`: person masks from MediaPipe's segmenters
//! ([`super::person_seg`], models `mediapipe-selfie` and `mediapipe-meet`,
//! on candle).
//!
//! Each frame's person probability map, resized to the frame, is cut at
//! `threshold`; a frame whose mask covers at least `min_area` of it gives
//! one [`Mask`] (run-length encoded, at frame resolution, labelled
//! `person`, scored with the mean probability of its pixels). Frames
//! without a person give no mask, so `count` is the number of frames a
//! person was seen in and `exists` whether any was. The segmenters find
//! people as a whole (one mask per frame, not one per person).
//!
//! Only people are supported until hub-checkpoint segmenters arrive; any
//! other label is an error saying so.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use vprog_runtime::value::{Frame, Mask, Masks};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::check_frame;
use super::objects::coco_query;
use super::person_seg::{PersonSegmenter, Variant};
use crate::model_store::{locate, ModelStore};

/// Default model: Meet. On the dev split of `examples/detect` (bikes.mp4,
/// box.mp4) Selfie, made for one person near the camera, masked none of the
/// labelled people (box recall 0 at every threshold), Meet all of them
/// (`modules/tests/segment.rs`).
pub const DEFAULT_MODEL: Variant = Variant::Meet;
/// Default probability above which a pixel is a person's: Meet's dev F1
/// (mask precision × box recall) rises from 0.757 at 0.3 to a plateau of
/// 0.896–0.907 over 0.7–0.9 with no false alarms; 0.8 is its middle.
pub const DEFAULT_THRESHOLD: f64 = 0.8;
/// Default least share of a frame a mask must cover to count as a person
/// seen (smaller masks are dropped as noise).
pub const DEFAULT_MIN_AREA: f64 = 0.002;

/// Settings of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentParams {
    /// Probability cut, 0–1 (exclusive).
    pub threshold: f32,
    /// Least covered share of the frame for a mask to be kept.
    pub min_area: f64,
}

impl Default for SegmentParams {
    fn default() -> Self {
        SegmentParams { threshold: DEFAULT_THRESHOLD as f32, min_area: DEFAULT_MIN_AREA }
    }
}

/// The person mask of each frame that shows one (see the module doc).
/// `on_frame` is called after each frame.
///
/// # Errors
///
/// [`ModuleError::InvalidArgument`] for a frame whose buffer does not match
/// its size, [`ModuleError::Failed`] when the network fails.
pub fn segment_frames(
    net: &PersonSegmenter,
    frames: &[Frame],
    params: &SegmentParams,
    on_frame: &mut dyn FnMut() -> Result<(), ModuleError>,
) -> Result<Vec<Mask>, ModuleError> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        check_frame("frames", i, f)?;
        let (w, h) = (f.width as usize, f.height as usize);
        let probs = net.frame_probabilities(&f.rgb, w, h).map_err(|e| match e {
            ModuleError::Failed(m) => ModuleError::Failed(format!("frame {i} ({:.3} s): {m}", f.time)),
            e => e,
        })?;
        let bits: Vec<bool> = probs.iter().map(|&p| p > params.threshold).collect();
        let set = bits.iter().filter(|&&b| b).count();
        if set > 0 && set as f64 >= params.min_area * (w * h) as f64 {
            let mean = probs.iter().zip(&bits).filter(|(_, &b)| b).map(|(&p, _)| f64::from(p)).sum::<f64>() / set as f64;
            out.push(Mask::encode(f.time, f.width, f.height, "person", mean as f32, &bits));
        }
        on_frame()?;
    }
    Ok(out)
}

const DOC: &str = "Segments people in frames: one person mask per frame that shows people (all people in a frame share one \
mask), at frame resolution, run-length encoded. Models (`model`): meet (default; MediaPipe Meet, `mediapipe-meet`, 256x144) or \
selfie (MediaPipe Selfie, `mediapipe-selfie`, 256x256, for one person close to the camera), TF.js graph models run on candle. A pixel is a person's when its \
probability exceeds `threshold`; a frame's mask is kept when it covers at least `min_area` of the frame, so frames without \
people give no mask: `count` gives the frames people were seen in, `exists` whether any were, `during`/`before`/`after` filter \
masks by time and `trim_around` keeps the video around them. Each mask's score is the mean probability of its pixels. The label \
must be person or a synonym (people, man, woman, child, ...); other labels are an error until more segmenters are installed. \
No frames → empty Masks.";

/// `segment(frames, label = "person", model = "meet", threshold = 0.8, min_area = 0.002)`.
pub struct Segment {
    sig: Signature,
    store: Arc<ModelStore>,
    loaded: Mutex<Vec<(Variant, PathBuf, Arc<PersonSegmenter>)>>,
}

impl Segment {
    /// The module with its signature; the segmenters come from `store`.
    pub fn new(store: Arc<ModelStore>) -> Segment {
        let sig = Signature::new("segment", "1.0.0", Returns::Is(Type::Masks), DOC)
            .param(Param::of("frames", Type::Frames, "The frames to segment."))
            .param(
                Param::of("label", Type::Text, "What to segment: person (or people, man, woman, child, ...).")
                    .default(Value::text("person")),
            )
            .param(
                Param::of(
                    "model",
                    Type::Text,
                    "meet (MediaPipe Meet, the default; also \"auto\") or selfie (MediaPipe Selfie, one person close up).",
                )
                .default(Value::text("meet")),
            )
            .param(
                Param::of("threshold", Type::Number, "A pixel is a person's when its probability exceeds this (0 to 1).")
                    .default(Value::Number(DEFAULT_THRESHOLD))
                    .range(0.01, 0.99)
                    .searchable(0.3, 0.9),
            )
            .param(
                Param::of("min_area", Type::Number, "Least share of a frame (0 to 1) a mask must cover to be kept.")
                    .default(Value::Number(DEFAULT_MIN_AREA))
                    .range(0.0, 1.0)
                    .searchable(0.0005, 0.02),
            )
            .cache(CachePolicy::Disk);
        Segment { sig, store, loaded: Mutex::new(Vec::new()) }
    }

    /// The installed segmenter for `variant`, loaded once.
    fn load(&self, variant: Variant) -> Result<Arc<PersonSegmenter>, ModuleError> {
        let dir = locate(&self.store, variant.model_id())?.dir;
        let mut slot = self.loaded.lock().map_err(|_| ModuleError::Failed("segment: model slot poisoned".into()))?;
        if let Some((_, _, m)) = slot.iter().find(|(v, d, _)| *v == variant && *d == dir) {
            return Ok(m.clone());
        }
        let m = Arc::new(PersonSegmenter::load(&dir, variant, &candle_core::Device::Cpu)?);
        slot.retain(|(v, _, _)| *v != variant);
        slot.push((variant, dir, m.clone()));
        Ok(m)
    }
}

/// Whether `label` names people (person or a synonym).
fn is_person(label: &str) -> bool {
    coco_query(label).is_some_and(|c| c == [0])
}

#[async_trait]
impl Module for Segment {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let frames = args.frames("frames")?;
        let label = args.text("label")?;
        let model = args.text("model")?.trim().to_lowercase();
        let threshold = args.number("threshold")?;
        let min_area = args.number("min_area")?;
        if !is_person(&label) {
            return Err(ModuleError::invalid(
                "label",
                format!(
                    "segment has no segmenter for `{label}`: only people (person, people, man, woman, child, ...) can be segmented; \
for boxes around other objects use detect(frames, \"{label}\")"
                ),
            ));
        }
        let variant = match model.as_str() {
            "selfie" => Variant::Selfie,
            "meet" => Variant::Meet,
            "auto" => DEFAULT_MODEL,
            other => return Err(ModuleError::invalid("model", format!("expected meet, selfie or auto (= meet), got `{other}`"))),
        };
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(ModuleError::invalid("threshold", format!("must be between 0 and 1 (exclusive), got {threshold}")));
        }
        if !(0.0..=1.0).contains(&min_area) {
            return Err(ModuleError::invalid("min_area", format!("must be between 0 and 1, got {min_area}")));
        }
        let net = self.load(variant)?;
        if frames.is_empty() {
            ctx.note("segment", "no frames: empty result");
            return Ok(Value::Masks(Arc::new(Masks::default())));
        }
        let started = std::time::Instant::now();
        let n = frames.len();
        ctx.progress.set_length(n as u64);
        let progress = ctx.progress.clone();
        let params = SegmentParams { threshold: threshold as f32, min_area };
        let shared = frames.clone();
        let stop = ctx.stop_signal();
        let masks = ctx
            .blocking(move || {
                segment_frames(&net, &shared, &params, &mut || {
                    progress.inc(1);
                    stop.check()
                })
            })
            .await;
        ctx.progress.finish();
        let masks = masks?;
        let secs = started.elapsed().as_secs_f64();
        let mean_cover = if masks.is_empty() { 0.0 } else { masks.iter().map(Mask::coverage).sum::<f64>() / masks.len() as f64 };
        ctx.note(
            "segment",
            serde_json::json!({
                "label": "person",
                "model": format!("tfjs-candle:{}", variant.model_id()),
                "threshold": threshold,
                "min_area": min_area,
                "frames": n,
                "frames_with_mask": masks.len(),
                "mean_coverage": mean_cover,
                "seconds": secs,
                "frames_per_second": if secs > 0.0 { n as f64 / secs } else { 0.0 },
            }),
        );
        Ok(Value::Masks(Arc::new(Masks { masks })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_words_are_people_and_nothing_else_is() {
        for w in ["person", "People", "man", "women", "child"] {
            assert!(is_person(w), "{w}");
        }
        for w in ["car", "dog", "all", "", "unicorn"] {
            assert!(!is_person(w), "{w}");
        }
    }
}
