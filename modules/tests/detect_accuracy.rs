//! Precision and recall of the COCO detector (CenterNet on candle) against
//! the hand-labelled frames of `examples/detect`, at IoU 0.5, per class,
//! PASCAL-VOC style (README there): detections are matched greedily by
//! score to the unmatched box of their class with the highest IoU; a
//! detection whose best box is `difficult` is ignored, difficult boxes are
//! never misses, and a detection of a class the frame has no box of is a
//! false positive.
//!
//! The set is split **by video**: `dev` = bikes.mp4 and box.mp4 (15
//! frames), `test` = vtest.avi and the TED talk (15 frames). Settings
//! (`min_score`, stretch or letterbox) are chosen on dev with
//! `cargo test -p vprog-modules --test detect_accuracy -- --nocapture`,
//! which prints the dev sweep; the floors below are asserted on test at the
//! defaults only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

mod common;

use common::{Labelled, Truth};

use vprog_modules::vision::centernet::{CenterNet, COCO_LABELS};
use vprog_modules::vision::objects::{detect_objects, Fit, ObjectParams, DEFAULT_MIN_SCORE};
use vprog_runtime::value::{BBox, Frame, FrameDetections};

fn detector() -> &'static CenterNet {
    static NET: OnceLock<CenterNet> = OnceLock::new();
    NET.get_or_init(|| {
        let dir = match std::env::var("VPROG_TEST_CENTERNET_DIR") {
            Ok(d) => PathBuf::from(d),
            Err(_) => match vprog_modules::ModelStore::from_env().locate("centernet-coco") {
                Ok(m) => m.dir,
                Err(e) => panic!("{e}: run `vprog models fetch centernet-coco`"),
            },
        };
        CenterNet::load(&dir, &candle_core::Device::Cpu).expect("centernet-coco loads")
    })
}

fn labelled() -> &'static [Labelled] {
    static SET: OnceLock<Vec<Labelled>> = OnceLock::new();
    SET.get_or_init(common::detect_labels)
}

fn is_dev(l: &Labelled) -> bool {
    l.source.contains("bikes") || l.source.contains("box")
}

/// Detections of every class at a low threshold, per fit, computed once.
fn detections(fit: Fit) -> &'static [FrameDetections] {
    static STRETCH: OnceLock<Vec<FrameDetections>> = OnceLock::new();
    static LETTERBOX: OnceLock<Vec<FrameDetections>> = OnceLock::new();
    let cell = match fit {
        Fit::Stretch => &STRETCH,
        Fit::Letterbox => &LETTERBOX,
    };
    cell.get_or_init(|| {
        let frames: Vec<Frame> = labelled().iter().map(|l| l.frame.clone()).collect();
        let all: Vec<usize> = (0..COCO_LABELS.len()).collect();
        let params = ObjectParams { min_score: 0.05, fit, ..ObjectParams::default() };
        detect_objects(detector(), &frames, &all, &params, &mut || Ok(())).expect("detection runs")
    })
}

/// True positives, false positives and scored boxes, per class.
#[derive(Default, Clone, Copy)]
struct Tally {
    tp: usize,
    fp: usize,
    truth: usize,
}

impl Tally {
    fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    fn recall(&self) -> f64 {
        if self.truth == 0 {
            1.0
        } else {
            self.tp as f64 / self.truth as f64
        }
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// VOC matching of one frame's detections (already thresholded) into `tally`.
fn score_frame(truth: &[Truth], boxes: &[&BBox], tally: &mut BTreeMap<String, Tally>) {
    for t in truth.iter().filter(|t| !t.difficult) {
        tally.entry(t.label.clone()).or_default().truth += 1;
    }
    let mut sorted: Vec<&&BBox> = boxes.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut matched = vec![false; truth.len()];
    for d in sorted {
        let best = truth
            .iter()
            .enumerate()
            .filter(|(_, t)| t.label == d.label)
            .map(|(i, t)| (i, d.iou(&t.bbox)))
            .filter(|(_, iou)| *iou >= 0.5)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let entry = tally.entry(d.label.clone()).or_default();
        match best {
            Some((i, _)) if truth[i].difficult => {}
            Some((i, _)) if !matched[i] => {
                matched[i] = true;
                entry.tp += 1;
            }
            _ => entry.fp += 1,
        }
    }
}

fn evaluate(fit: Fit, min_score: f32, dev: bool) -> BTreeMap<String, Tally> {
    let mut tally = BTreeMap::new();
    for (l, d) in labelled().iter().zip(detections(fit)) {
        if is_dev(l) != dev {
            continue;
        }
        let boxes: Vec<&BBox> = d.boxes.iter().filter(|b| b.score >= min_score).collect();
        score_frame(&l.truth, &boxes, &mut tally);
    }
    tally
}

fn total(t: &BTreeMap<String, Tally>) -> Tally {
    t.values().fold(Tally::default(), |a, b| Tally { tp: a.tp + b.tp, fp: a.fp + b.fp, truth: a.truth + b.truth })
}

fn print_table(title: &str, t: &BTreeMap<String, Tally>) {
    println!("{title}");
    println!("  {:<14} {:>4} {:>4} {:>5} {:>9} {:>7}", "class", "tp", "fp", "truth", "precision", "recall");
    for (class, x) in t.iter().chain(std::iter::once((&"all".to_string(), &total(t)))) {
        println!("  {:<14} {:>4} {:>4} {:>5} {:>9.3} {:>7.3}", class, x.tp, x.fp, x.truth, x.precision(), x.recall());
    }
}

#[test]
fn dev_sweep_and_test_floor() {
    assert_eq!(labelled().len(), 30, "examples/detect holds 30 frames");
    for fit in [Fit::Stretch, Fit::Letterbox] {
        for min_score in [0.1, 0.15, 0.2, 0.25, 0.3, 0.4] {
            let t = total(&evaluate(fit, min_score, true));
            println!(
                "dev {fit:?} min_score {min_score:.2}: tp {} fp {} truth {} precision {:.3} recall {:.3} F1 {:.3}",
                t.tp,
                t.fp,
                t.truth,
                t.precision(),
                t.recall(),
                t.f1()
            );
        }
    }
    let default = ObjectParams::default();
    print_table(
        &format!("dev at the defaults ({:?}, min_score {DEFAULT_MIN_SCORE})", default.fit),
        &evaluate(default.fit, DEFAULT_MIN_SCORE, true),
    );
    let test = evaluate(default.fit, DEFAULT_MIN_SCORE, false);
    print_table(&format!("test at the defaults ({:?}, min_score {DEFAULT_MIN_SCORE})", default.fit), &test);
    for (l, d) in labelled().iter().zip(detections(default.fit)).filter(|(l, _)| !is_dev(l)) {
        let seen: Vec<String> =
            d.boxes.iter().filter(|b| b.score >= DEFAULT_MIN_SCORE).map(|b| format!("{} {:.2}", b.label, b.score)).collect();
        println!("  {}: {}", l.name, seen.join(", "));
    }
    // Floors below what the test split measured (closing note of issue 13).
    let person = test.get("person").copied().unwrap_or_default();
    let all = total(&test);
    assert!(person.recall() >= FLOOR_PERSON_RECALL, "person recall {:.3} on test", person.recall());
    assert!(person.precision() >= FLOOR_PERSON_PRECISION, "person precision {:.3} on test", person.precision());
    assert!(all.precision() >= FLOOR_ALL_PRECISION, "precision {:.3} on test", all.precision());
    assert!(all.recall() >= FLOOR_ALL_RECALL, "recall {:.3} on test", all.recall());
}

// Measured on test at the defaults (letterbox, 0.3), 2026-12-06: person
// precision 0.798 recall 0.959 (71/74); car 0.909 / 1.000; all classes
// precision 0.526 (42 of 74 false positives are `sports ball` on vtest)
// recall 0.943 (82/87).
const FLOOR_PERSON_RECALL: f64 = 0.85;
const FLOOR_PERSON_PRECISION: f64 = 0.7;
const FLOOR_ALL_PRECISION: f64 = 0.45;
const FLOOR_ALL_RECALL: f64 = 0.85;
