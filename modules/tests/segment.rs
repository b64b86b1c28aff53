//! `segment`: MediaPipe Selfie and Meet on the candle TF.js interpreter.
//!
//! - **Parity** with TensorFlow.js 4.22 on the three golden frames of
//!   `scripts/goldens/tfjs/detect.json` (TED talk speaker, vtest.avi
//!   pedestrians, box.mp4 arm): the model input, the graph output on a 16×16
//!   grid, Selfie's frame-size alpha as `@vladmandic/human` computes it, and
//!   Meet's channel-softmax person probability.
//! - **Accuracy** against the person boxes of `examples/detect` (hand
//!   labels), split by video like `detect_accuracy.rs`: dev = bikes.mp4 and
//!   box.mp4, test = vtest.avi and the TED talk. Per frame: whether a mask
//!   is emitted (presence), the share of mask pixels inside labelled person
//!   boxes (mask precision) and the share of non-difficult person boxes at
//!   least [`BOX_FOUND`] covered (box recall). The model and threshold were
//!   chosen on dev (`cargo test -p vprog-modules --test segment -- --nocapture`
//!   prints the sweep); floors are asserted on test at the defaults.
//! - **The module**: masks through the registry, traced notes, bad labels,
//!   models and frames.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

mod common;

use vprog_modules::vision::person_seg::{resize_plane, PersonSegmenter, Variant};
use vprog_modules::vision::segment::{segment_frames, SegmentParams, DEFAULT_MIN_AREA, DEFAULT_MODEL, DEFAULT_THRESHOLD};
use vprog_modules::ModelStore;
use vprog_runtime::value::{Frame, Mask, Masks};
use vprog_runtime::{Args, ModuleError, Registry, StepContext, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_dir(variant: Variant) -> PathBuf {
    match ModelStore::from_env().locate(variant.model_id()) {
        Ok(m) => m.dir,
        Err(e) => panic!("{e}: run `vprog models fetch {}`", variant.model_id()),
    }
}

fn net(variant: Variant) -> &'static PersonSegmenter {
    static SELFIE: OnceLock<PersonSegmenter> = OnceLock::new();
    static MEET: OnceLock<PersonSegmenter> = OnceLock::new();
    let slot = match variant {
        Variant::Selfie => &SELFIE,
        Variant::Meet => &MEET,
    };
    slot.get_or_init(|| PersonSegmenter::load(&model_dir(variant), variant, &candle_core::Device::Cpu).expect("the segmenter loads"))
}

fn golden() -> &'static serde_json::Value {
    static GOLDEN: OnceLock<serde_json::Value> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("scripts/goldens/tfjs/detect.json")).expect("scripts/goldens/tfjs/detect.json");
        serde_json::from_str(&text).expect("golden JSON")
    })
}

/// The golden cases that ran the segmenters, with their frames.
fn cases() -> &'static [(serde_json::Value, Frame)] {
    static CASES: OnceLock<Vec<(serde_json::Value, Frame)>> = OnceLock::new();
    CASES.get_or_init(|| {
        golden()["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .filter(|c| c.get("selfie").is_some())
            .map(|c| (c.clone(), common::golden_frame(c, "scripts/goldens/tfjs/detect.mjs")))
            .collect()
    })
}

fn values(t: &candle_core::Tensor) -> Vec<f32> {
    t.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("f32 tensor")
}

/// `[y, x, value]` grid points of a golden, against `ours` (`width` wide), within `tol`.
fn check_grid(what: &str, grid: &serde_json::Value, ours: &[f32], width: usize, tol: f32) -> f32 {
    let mut worst = 0f32;
    for p in grid.as_array().expect("grid") {
        let (y, x, want) = (p[0].as_u64().expect("y") as usize, p[1].as_u64().expect("x") as usize, p[2].as_f64().expect("value") as f32);
        let got = ours[y * width + x];
        let d = (got - want).abs();
        worst = worst.max(d);
        assert!(d <= tol, "{what} at ({y}, {x}): ours {got} vs TF.js {want} (tolerance {tol})");
    }
    worst
}

#[test]
fn selfie_and_meet_match_tfjs_on_real_frames() {
    let (mut worst_in, mut worst_out, mut worst_alpha, mut worst_meet) = (0f32, 0f32, 0f32, 0f32);
    for (case, f) in cases() {
        let what = format!("{} @ {}", case["media"], case["t"]);
        let (w, h) = (f.width as usize, f.height as usize);
        for variant in [Variant::Selfie, Variant::Meet] {
            let key = match variant {
                Variant::Selfie => "selfie",
                Variant::Meet => "meet",
            };
            let g = &case[key];
            let net = net(variant);
            let input = net.input(&f.rgb, w, h).expect("input");
            let ours_in = values(&input);
            for (i, want) in
                g["input"]["sample_index"].as_array().expect("index").iter().zip(g["input"]["sample"].as_array().expect("sample"))
            {
                let d = (ours_in[i.as_u64().expect("i") as usize] - want.as_f64().expect("v") as f32).abs();
                worst_in = worst_in.max(d);
                assert!(d <= 1e-5, "{key} input {what}[{i}]: {d}");
            }
            let out = net.forward(&input).expect("forward");
            let raw = values(&out);
            let cfg = net.config();
            let channels = variant.channels();
            // The graph output, channel by channel, on the golden's grid.
            for (c, grid) in g["output"]["grid"].as_array().expect("channels").iter().enumerate() {
                let plane: Vec<f32> = raw.iter().skip(c).step_by(channels).copied().collect();
                // Sigmoid outputs are compared absolutely; Meet's logits relative to their range (±20).
                let tol = if variant == Variant::Selfie { 2e-3 } else { 2e-2 };
                worst_out = worst_out.max(check_grid(&format!("{key} output[{c}] {what}"), grid, &plane, cfg.width, tol));
            }
            let mean = raw.iter().map(|&v| f64::from(v)).sum::<f64>() / raw.len() as f64;
            let want = g["output"]["stats"]["mean"].as_f64().expect("mean");
            assert!((mean - want).abs() <= 1e-3 * want.abs().max(1.0), "{key} output mean {mean} vs TF.js {want} ({what})");
            let probs = net.probabilities(&out).expect("probabilities");
            match variant {
                Variant::Selfie => {
                    // The library's alpha: the plane resized to the frame, ×255, truncated.
                    let alpha: Vec<f32> = resize_plane(&probs, cfg.width, cfg.height, w, h).iter().map(|p| (p * 255.0).trunc()).collect();
                    worst_alpha = worst_alpha.max(check_grid(&format!("selfie alpha {what}"), &g["alpha"]["grid"], &alpha, w, 1.0));
                    let share = alpha.iter().filter(|&&a| a >= 128.0).count() as f64 / alpha.len() as f64;
                    let want = g["alpha"]["share_ge_128"].as_f64().expect("share");
                    assert!((share - want).abs() <= 2e-3, "selfie share ≥128 {share} vs TF.js {want} ({what})");
                }
                Variant::Meet => {
                    worst_meet = worst_meet.max(check_grid(
                        &format!("meet person probability {what}"),
                        &g["fg_channel_softmax_grid"],
                        &probs,
                        cfg.width,
                        2e-3,
                    ));
                }
            }
        }
    }
    println!(
        "worst differences from TF.js: input {worst_in:.1e}, outputs {worst_out:.1e}, selfie alpha {worst_alpha} (of 255), meet probability {worst_meet:.1e}"
    );
}

// ---------------------------------------------------------------------------
// Accuracy against the person boxes of examples/detect
// ---------------------------------------------------------------------------

/// A box counts as found when at least this share of its pixels is masked.
const BOX_FOUND: f64 = 0.25;

/// A frame of `examples/detect` with its person boxes.
struct Labelled {
    source: String,
    frame: Frame,
    /// `(x, y, w, h, difficult)` of each person box.
    people: Vec<(usize, usize, usize, usize, bool)>,
}

fn labelled() -> &'static [Labelled] {
    static SET: OnceLock<Vec<Labelled>> = OnceLock::new();
    SET.get_or_init(|| {
        common::detect_labels()
            .into_iter()
            .map(|l| Labelled {
                people: l
                    .truth
                    .iter()
                    .filter(|t| t.label == "person")
                    .map(|t| (t.bbox.x as usize, t.bbox.y as usize, t.bbox.w as usize, t.bbox.h as usize, t.difficult))
                    .collect(),
                source: l.source,
                frame: l.frame,
            })
            .collect()
    })
}

#[derive(Debug, Default)]
struct Score {
    /// Frames with a non-difficult person: with a mask / all.
    hits: usize,
    positives: usize,
    /// Frames without any person box: with a mask / all.
    false_alarms: usize,
    negatives: usize,
    /// Mask pixels inside person boxes / all mask pixels.
    inside: u64,
    masked: u64,
    /// Non-difficult person boxes found / all.
    found: usize,
    boxes: usize,
}

impl std::fmt::Display for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} frames with people masked, {}/{} false alarms, mask precision {:.3}, box recall {:.3} ({}/{}), F1 {:.3}",
            self.hits,
            self.positives,
            self.false_alarms,
            self.negatives,
            self.precision(),
            self.recall(),
            self.found,
            self.boxes,
            self.f1()
        )
    }
}

impl Score {
    fn precision(&self) -> f64 {
        self.inside as f64 / self.masked.max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.found as f64 / self.boxes.max(1) as f64
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }
}

fn evaluate(variant: Variant, params: &SegmentParams, sources: &[&str]) -> Score {
    let mut s = Score::default();
    for l in labelled().iter().filter(|l| sources.contains(&l.source.as_str())) {
        let masks = segment_frames(net(variant), std::slice::from_ref(&l.frame), params, &mut || Ok(())).expect("segments");
        let bits = masks.first().and_then(Mask::decode);
        let w = l.frame.width as usize;
        let has_person = l.people.iter().any(|p| !p.4);
        if has_person {
            s.positives += 1;
            s.hits += usize::from(bits.is_some());
        } else if l.people.is_empty() {
            s.negatives += 1;
            s.false_alarms += usize::from(bits.is_some());
        }
        let Some(bits) = bits else {
            s.boxes += l.people.iter().filter(|p| !p.4).count();
            continue;
        };
        let in_box = |x: usize, y: usize| l.people.iter().any(|&(bx, by, bw, bh, _)| x >= bx && x < bx + bw && y >= by && y < by + bh);
        for (i, _) in bits.iter().enumerate().filter(|(_, &b)| b) {
            s.masked += 1;
            s.inside += u64::from(in_box(i % w, i / w));
        }
        for &(bx, by, bw, bh, difficult) in &l.people {
            if difficult {
                continue;
            }
            s.boxes += 1;
            let covered = (by..by + bh).flat_map(|y| (bx..bx + bw).map(move |x| (x, y))).filter(|&(x, y)| bits[y * w + x]).count();
            s.found += usize::from(covered as f64 >= BOX_FOUND * (bw * bh) as f64);
        }
    }
    s
}

const DEV: &[&str] = &["media/bikes.mp4", "media/box.mp4"];
const TEST: &[&str] = &["media/vtest.avi", "media/ted/test.mp4"];

#[test]
fn person_masks_cover_the_labelled_people_on_the_test_videos() {
    println!("dev sweep (bikes + box): model threshold → presence, false alarms, mask precision, box recall, F1");
    for variant in [Variant::Selfie, Variant::Meet] {
        for threshold in [0.3, 0.5, 0.7, 0.8, 0.9] {
            let s = evaluate(variant, &SegmentParams { threshold, min_area: DEFAULT_MIN_AREA }, DEV);
            println!("  {variant:?} {threshold}: {s}");
        }
    }
    let s = evaluate(DEFAULT_MODEL, &SegmentParams::default(), TEST);
    println!("test (vtest + TED) at the defaults ({DEFAULT_MODEL:?}, {DEFAULT_THRESHOLD}): {s}");
    // Floors below what was measured (0.703, 0.176, 10 of 14; see the README's segmentation table).
    assert!(s.precision() >= 0.6, "mask precision {:.3}", s.precision());
    assert!(s.recall() >= 0.12, "box recall {:.3}", s.recall());
    assert!(s.hits >= 8, "frames with people masked: {} of {}", s.hits, s.positives);
}

// ---------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------

fn registry(store: ModelStore) -> Registry {
    let mut r = Registry::new();
    vprog_modules::vision::register(&mut r, &Arc::new(store));
    vprog_modules::symbolic::register(&mut r);
    r
}

async fn call(r: &Registry, name: &str, named: Vec<(&str, Value)>) -> (Result<Value, ModuleError>, StepContext) {
    let module = r.get(name).unwrap_or_else(|| panic!("module `{name}` is not registered"));
    let ctx = StepContext::standalone("test");
    let out = module.call(Args::with_defaults(module.signature(), named, vec![]), &ctx).await;
    (out, ctx)
}

fn masks(v: Value) -> Arc<Masks> {
    match v {
        Value::Masks(m) => m,
        other => panic!("expected Masks, got {}", other.summary()),
    }
}

fn frames_value(frames: Vec<Frame>) -> Value {
    Value::Frames(Arc::new(frames))
}

#[tokio::test(flavor = "multi_thread")]
async fn segment_masks_the_speaker_and_feeds_count_exists_and_during() {
    let r = registry(ModelStore::from_env());
    let ted = cases().iter().find(|(c, _)| c["media"] == "media/ted/test.mp4").map(|(_, f)| f.clone()).expect("the TED golden frame");
    let blank = Frame { time: 31.0, width: ted.width, height: ted.height, rgb: vec![128u8; ted.rgb.len()].into() };
    let two = frames_value(vec![ted.clone(), blank]);
    let (v, ctx) = call(
        &r,
        "segment",
        vec![
            ("frames", two.clone()),
            ("label", Value::text("people")),
            ("model", Value::text("selfie")),
            // The library's alpha ≥ 128 of 255.
            ("threshold", Value::Number(127.5 / 255.0)),
        ],
    )
    .await;
    let m = masks(v.expect("segment runs"));
    assert_eq!(m.masks.len(), 1, "the speaker's frame has a mask, the blank one none");
    let mask = &m.masks[0];
    assert_eq!((mask.time, mask.width, mask.height, mask.label.as_str()), (30.0, ted.width, ted.height, "person"));
    // As much of the frame as TF.js's library alpha ≥ 128 covers (29.0%).
    let want = cases()
        .iter()
        .find(|(c, _)| c["media"] == "media/ted/test.mp4")
        .map(|(c, _)| c["selfie"]["alpha"]["share_ge_128"].as_f64().expect("share"))
        .expect("case");
    assert!((mask.coverage() - want).abs() <= 0.003, "coverage {} vs TF.js {want}", mask.coverage());
    assert!(mask.score > 0.5 && mask.score <= 1.0, "score {}", mask.score);
    let note = ctx.notes.get("segment").expect("a segment note");
    assert_eq!(note["model"].as_str(), Some("tfjs-candle:mediapipe-selfie"), "{note}");
    assert_eq!(note["frames_with_mask"].as_u64(), Some(1), "{note}");
    // The default model (Meet) agrees: one mask, of the speaker.
    let (v, ctx) = call(&r, "segment", vec![("frames", two)]).await;
    let meet = masks(v.expect("segment runs"));
    assert_eq!(meet.masks.iter().map(|k| k.time).collect::<Vec<_>>(), vec![30.0]);
    assert!((0.2..=0.4).contains(&meet.masks[0].coverage()), "meet coverage {}", meet.masks[0].coverage());
    assert_eq!(ctx.notes.get("segment").expect("note")["model"].as_str(), Some("tfjs-candle:mediapipe-meet"));

    let masked = Value::Masks(m.clone());
    let (n, _) = call(&r, "count", vec![("items", masked.clone())]).await;
    assert!(matches!(n.expect("count"), Value::Int(1)));
    let (e, _) = call(&r, "exists", vec![("items", masked.clone())]).await;
    assert!(matches!(e.expect("exists"), Value::Bool(true)));
    let (d, _) = call(&r, "during", vec![("items", masked.clone()), ("anchor", Value::Timestamp(30.0))]).await;
    assert_eq!(masks(d.expect("during")).masks.len(), 1);
    let (b, _) = call(&r, "before", vec![("items", masked), ("anchor", Value::Timestamp(10.0))]).await;
    assert!(masks(b.expect("before")).masks.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn segment_refuses_bad_labels_models_and_arguments_and_handles_odd_frames() {
    let r = registry(ModelStore::from_env());
    let small = Frame { time: 0.0, width: 16, height: 16, rgb: vec![90u8; 16 * 16 * 3].into() };
    let frames = frames_value(vec![small.clone()]);
    for (named, param, says) in [
        (vec![("label", Value::text("car"))], "label", "only people"),
        (vec![("model", Value::text("rvm"))], "model", "meet, selfie or auto"),
        (vec![("threshold", Value::Number(1.0))], "threshold", "between 0 and 1"),
        (vec![("min_area", Value::Number(-0.1))], "min_area", "between 0 and 1"),
    ] {
        let mut args = vec![("frames", frames.clone())];
        args.extend(named);
        let e = call(&r, "segment", args).await.0.expect_err("refused");
        assert!(matches!(&e, ModuleError::InvalidArgument { param: p, .. } if p == param) && e.to_string().contains(says), "{e}");
    }
    // No frames: an empty result. Tiny, grey and 4K frames run.
    let (v, _) = call(&r, "segment", vec![("frames", frames_value(Vec::new()))]).await;
    assert!(masks(v.expect("empty")).masks.is_empty());
    let k4 = Frame { time: 1.0, width: 3840, height: 2160, rgb: vec![200u8; 3840 * 2160 * 3].into() };
    for model in ["selfie", "meet"] {
        let (v, _) =
            call(&r, "segment", vec![("frames", frames_value(vec![small.clone(), k4.clone()])), ("model", Value::text(model))]).await;
        let m = masks(v.expect("odd frames run"));
        assert!(m.masks.iter().all(|k| k.decode().is_some()), "{model}: well-formed masks");
    }
    // A frame whose buffer does not match its size.
    let broken = Frame { time: 2.0, width: 32, height: 32, rgb: vec![0u8; 10].into() };
    let e = call(&r, "segment", vec![("frames", frames_value(vec![broken]))]).await.0.expect_err("bad frame");
    assert!(matches!(e, ModuleError::InvalidArgument { .. }) && e.to_string().contains("32x32"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_corrupt_segmenters_name_the_fetch_command() {
    let frames = frames_value(vec![Frame { time: 0.0, width: 16, height: 16, rgb: vec![0u8; 16 * 16 * 3].into() }]);
    let empty = tempfile::tempdir().expect("tempdir");
    let r = registry(ModelStore::at(empty.path()));
    let e = call(&r, "segment", vec![("frames", frames.clone())]).await.0.expect_err("no model");
    assert!(matches!(e, ModuleError::MissingModel { .. }) && e.to_string().contains("vprog models fetch mediapipe-meet"), "{e}");

    // A truncated weight shard and a graph that is not JSON, loaded directly.
    let src = model_dir(Variant::Selfie);
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["selfie.json", "selfie.bin"] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy");
    }
    let bin = std::fs::read(src.join("selfie.bin")).expect("bin");
    std::fs::write(dir.path().join("selfie.bin"), &bin[..bin.len() / 2]).expect("truncate");
    let e = PersonSegmenter::load(dir.path(), Variant::Selfie, &candle_core::Device::Cpu).expect_err("truncated");
    assert!(matches!(e, ModuleError::BadModel { .. }) && e.to_string().contains("vprog models fetch mediapipe-selfie --force"), "{e}");
    std::fs::write(dir.path().join("selfie.json"), b"{ not json").expect("garbage");
    let e = PersonSegmenter::load(dir.path(), Variant::Selfie, &candle_core::Device::Cpu).expect_err("garbage");
    assert!(matches!(e, ModuleError::BadModel { .. }), "{e}");
}
