//! PP-OCR on tract against its reference runtime on real frames.
//!
//! `scripts/goldens/ppocr.json` holds what onnxruntime and rapidocr 3.10 give
//! on 12 frames of the project's media (titles, captions, credits, a
//! screencast, frames without text), written by `scripts/goldens/ppocr.py`.
//! Both sides decode each frame with the same ffmpeg command; the test checks
//! the pixels' SHA-256 first.
//!
//! Tolerances (float32 networks, the same OpenCV algorithms on both sides):
//! - probability map: every grid point within 2e-3, the mean within 1e-4,
//!   the share of text pixels within 1e-3;
//! - boxes: the same number; each corner within 2 px of the reference's;
//! - recognition on the reference boxes: the same text, score within 5e-3;
//! - end to end (`PpOcr::read`): the same number of lines in the same
//!   order, corners within 2 px; ≥ 85% of lines read identically, every line
//!   within 5% edit distance, scores within 0.1 and their median difference
//!   under 0.005. (rapidocr recognises lines
//!   in batches of 6 zero-padded to the batch's widest, vprog one at a time
//!   padded to a multiple of 160 px; on the small credits text the padding
//!   moves a space next to a "·" and a one-character line's score by 0.06.)
//!
//! Also: a missing, truncated or foreign model file is a clear error naming
//! `vprog models fetch`, and odd frames (grayscale content, 16×16, 4K) read
//! without panicking.
//!
//! Needs `VPROG_MODELS` pointing at a store holding `pp-ocrv6-small`
//! (`vprog models fetch pp-ocrv6-small`), the media of
//! `bash scripts/fetch-media.sh`, and the `ffmpeg` command.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;

use opencv::prelude::*;
use vprog_modules::vision::ppocr::{bgr_mat, rec, DbParams, PpOcr, PpOcrParams};
use vprog_modules::ModelStore;
use vprog_runtime::value::Frame;
use vprog_runtime::ModuleError;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_dir() -> PathBuf {
    match ModelStore::from_env().locate("pp-ocrv6-small") {
        Ok(m) => m.dir,
        Err(e) => panic!("{e}: run `vprog models fetch pp-ocrv6-small`"),
    }
}

fn engine() -> &'static PpOcr {
    static ENGINE: OnceLock<PpOcr> = OnceLock::new();
    ENGINE.get_or_init(|| PpOcr::load(&model_dir()).expect("pp-ocrv6-small loads"))
}

fn golden() -> &'static serde_json::Value {
    static GOLDEN: OnceLock<serde_json::Value> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("scripts/goldens/ppocr.json")).expect("scripts/goldens/ppocr.json");
        serde_json::from_str(&text).expect("golden JSON")
    })
}

/// The frame of a golden case, decoded as the golden script decodes it.
fn frame(case: &serde_json::Value) -> Frame {
    common::golden_frame(case, "scripts/goldens/ppocr.py")
}

fn quad(v: &serde_json::Value) -> [[f32; 2]; 4] {
    let mut q = [[0f32; 2]; 4];
    for (i, p) in v.as_array().expect("quad").iter().enumerate().take(4) {
        q[i] = [p[0].as_f64().expect("x") as f32, p[1].as_f64().expect("y") as f32];
    }
    q
}

fn max_corner_gap(a: &[[f32; 2]; 4], b: &[[f32; 2]; 4]) -> f32 {
    a.iter().zip(b).map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs())).fold(0.0, f32::max)
}

fn cases() -> Vec<&'static serde_json::Value> {
    let cases: Vec<&serde_json::Value> = golden()["cases"].as_array().expect("cases").iter().collect();
    assert!(cases.len() >= 10, "the golden covers ≥ 10 frames");
    cases
}

#[test]
fn detector_probability_matches_onnxruntime() {
    let ocr = engine();
    for case in cases() {
        let f = frame(case);
        let name = format!("{} @ {}", case["media"], case["t"]);
        let bgr = bgr_mat(&f).expect("bgr");
        let (w, h, prob) = ocr.det.probability(&bgr, &DbParams::default()).expect("detector runs");
        let input: Vec<usize> = case["det_input"].as_array().expect("det_input").iter().map(|v| v.as_u64().expect("n") as usize).collect();
        assert_eq!(vec![w, h], input, "{name}: detector input size");
        let mean = prob.iter().map(|&v| f64::from(v)).sum::<f64>() / prob.len() as f64;
        let share = prob.iter().filter(|&&v| v > 0.3).count() as f64 / prob.len() as f64;
        assert!((mean - case["prob_mean"].as_f64().expect("mean")).abs() < 1e-4, "{name}: probability mean {mean}");
        assert!((share - case["prob_text_share"].as_f64().expect("share")).abs() < 1e-3, "{name}: text share {share}");
        for g in case["prob_grid"].as_array().expect("grid") {
            let (y, x, want) = (g[0].as_u64().expect("y") as usize, g[1].as_u64().expect("x") as usize, g[2].as_f64().expect("v"));
            let got = f64::from(prob[y * w + x]);
            assert!((got - want).abs() < 2e-3, "{name}: probability at ({x}, {y}) is {got}, onnxruntime {want}");
        }
    }
}

#[test]
fn detector_boxes_match_rapidocr() {
    let ocr = engine();
    let mut total = 0;
    for case in cases() {
        let f = frame(case);
        let name = format!("{} @ {}", case["media"], case["t"]);
        let boxes = ocr.det.detect(&bgr_mat(&f).expect("bgr"), &DbParams::default()).expect("detector runs");
        let want = case["boxes"].as_array().expect("boxes");
        let scores = case["box_scores"].as_array().expect("scores");
        assert_eq!(boxes.len(), want.len(), "{name}: number of boxes");
        for ((b, w), s) in boxes.iter().zip(want).zip(scores) {
            let gap = max_corner_gap(&b.quad, &quad(w));
            assert!(gap <= 2.0, "{name}: box {:?} vs rapidocr {w} ({gap} px)", b.quad);
            assert!((f64::from(b.score) - s.as_f64().expect("score")).abs() < 2e-3, "{name}: box score {} vs {s}", b.score);
        }
        total += boxes.len();
    }
    assert!(total >= 40, "the golden frames hold text ({total} boxes)");
}

#[test]
fn recogniser_matches_onnxruntime_on_the_reference_boxes() {
    let ocr = engine();
    let mut lines = 0;
    for case in cases() {
        let f = frame(case);
        let bgr = bgr_mat(&f).expect("bgr");
        for (b, want) in case["boxes"].as_array().expect("boxes").iter().zip(case["lines"].as_array().expect("lines")) {
            let crop = rec::crop(&bgr, &quad(b)).expect("crop").expect("a non-empty crop");
            let size = [crop.cols() as u64, crop.rows() as u64];
            assert_eq!(want["crop"].as_array().expect("crop").iter().map(|v| v.as_u64().expect("n")).collect::<Vec<_>>(), size);
            let width = want["width"].as_u64().expect("width") as usize;
            assert_eq!(rec::input_width(crop.cols(), crop.rows()), width, "recogniser input width");
            let (steps, classes, probs) = ocr.rec.probabilities(&crop, width).expect("recogniser runs");
            let top: Vec<u64> = probs
                .chunks_exact(classes)
                .map(|row| row.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as u64)
                .collect();
            let want_top: Vec<u64> = want["top"].as_array().expect("top").iter().map(|v| v.as_u64().expect("n")).collect();
            assert_eq!(steps, want_top.len());
            let differing = top.iter().zip(&want_top).filter(|(a, b)| a != b).count();
            assert!(differing <= 1, "{}: {differing} of {steps} time steps pick another class", want["text"]);
            let got = rec::ctc_decode(&probs, classes, ocr.rec.charset());
            assert_eq!(got.text, want["text"].as_str().expect("text"));
            assert!((f64::from(got.score) - want["score"].as_f64().expect("score")).abs() < 5e-3, "{}: score {}", got.text, got.score);
            lines += 1;
        }
    }
    assert!(lines >= 40, "{lines} lines compared");
}

fn edit_distance(a: &str, b: &str) -> usize {
    common::levenshtein(&a.chars().collect::<Vec<_>>(), &b.chars().collect::<Vec<_>>())
}

#[test]
fn end_to_end_matches_rapidocr() {
    let ocr = engine();
    let mut read = Vec::new();
    let (mut gaps, mut exact, mut total) = (Vec::new(), 0usize, 0usize);
    for case in cases() {
        let f = frame(case);
        let name = format!("{} @ {}", case["media"], case["t"]);
        let lines = ocr.read(&f, &PpOcrParams::default()).expect("reads");
        let want = case["end_to_end"].as_array().expect("end_to_end");
        let got: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        let expected: Vec<&str> = want.iter().map(|w| w["text"].as_str().expect("text")).collect();
        assert_eq!(got.len(), expected.len(), "{name}: lines read\n{got:?}\nrapidocr: {expected:?}");
        for (l, w) in lines.iter().zip(want) {
            let reference = w["text"].as_str().expect("text");
            let d = edit_distance(&l.text, reference);
            if d == 0 {
                exact += 1;
            }
            total += 1;
            assert!(d as f64 <= (0.05 * reference.chars().count() as f64).max(1.0), "{name}: read {:?}, rapidocr {reference:?}", l.text);
            assert!(max_corner_gap(&l.quad, &quad(&w["quad"])) <= 2.0, "{name}: {} box {:?} vs {}", l.text, l.quad, w["quad"]);
            let gap = (f64::from(l.score) - w["score"].as_f64().expect("score")).abs();
            gaps.push(gap);
            assert!(gap < 0.1, "{name}: {} score {} vs rapidocr {}", l.text, l.score, w["score"]);
        }
        read.extend(got.into_iter().map(str::to_string));
    }
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    eprintln!(
        "{exact} of {total} lines read exactly as rapidocr reads them; score difference median {median:.4}, max {:.4}",
        gaps[gaps.len() - 1]
    );
    assert!(median < 0.005, "median score difference {median}");
    assert!(exact as f64 >= 0.85 * total as f64, "{exact} of {total} lines identical");
    // What the reference reads is real text: the TED speaker's name and BBB's credits.
    assert!(read.iter().any(|t| t == "TINASEELIG"), "{read:?}");
    assert!(read.iter().any(|t| t == "Jan Morgenstern"), "{read:?}");
}

#[test]
fn odd_frames_read_without_panicking() {
    let ocr = engine();
    let p = PpOcrParams::default();
    // A 16×16 frame, a flat grey 4K frame and a grayscale-content frame.
    let tiny = Frame { time: 0.0, width: 16, height: 16, rgb: vec![200u8; 16 * 16 * 3].into() };
    assert!(ocr.read(&tiny, &p).expect("tiny frame").is_empty());
    let huge = Frame { time: 0.0, width: 3840, height: 2160, rgb: vec![128u8; 3840 * 2160 * 3].into() };
    assert!(ocr.read(&huge, &p).expect("4K frame").is_empty());
    // The BBB title card as grayscale (R = G = B) still reads.
    let case = cases().into_iter().find(|c| c["media"] == "media/bbb.mp4" && c["t"] == 22.0).expect("BBB title case");
    let f = frame(case);
    let gray: Vec<u8> = f
        .rgb
        .chunks_exact(3)
        .flat_map(|p| {
            let g = ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8;
            [g, g, g]
        })
        .collect();
    let lines = ocr.read(&Frame { rgb: gray.into(), ..f }, &p).expect("grayscale frame");
    assert!(lines.iter().any(|l| l.text.contains("PEACH")), "{lines:?}");
}

/// An upside-down title: without the angle classifier the recogniser reads
/// the turned crop as garbage; with it (`angle: true`) the line is turned
/// back and read.
#[test]
fn angle_classifier_turns_upside_down_lines() {
    let ocr = engine();
    let case = cases().into_iter().find(|c| c["media"] == "media/bbb.mp4" && c["t"] == 22.0).expect("BBB title case");
    let f = frame(case);
    // The frame turned 180°: pixel (x, y) moves to (w-1-x, h-1-y), i.e. the RGB triples in reverse order.
    let turned: Vec<u8> = f.rgb.chunks_exact(3).rev().flatten().copied().collect();
    let turned = Frame { rgb: turned.into(), ..f };
    let upright = |angle: bool| {
        let lines = ocr.read(&turned, &PpOcrParams { angle, min_score: 0.0, ..PpOcrParams::default() }).expect("reads");
        (lines.iter().any(|l| l.text.contains("PEACH OPEN MOVIE")), lines.iter().filter(|l| l.turned).count(), lines)
    };
    let (read, turned_lines, lines) = upright(true);
    assert!(read && turned_lines >= 1, "with the classifier: {lines:?}");
    let (read, turned_lines, lines) = upright(false);
    assert!(!read && turned_lines == 0, "without it: {lines:?}");
}

#[test]
fn damaged_model_files_name_the_fetch_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = model_dir();
    for name in ["det.onnx", "rec.onnx", "cls.onnx"] {
        std::fs::copy(src.join(name), dir.path().join(name)).expect("copy");
    }
    // Truncated detector.
    let det = std::fs::read(src.join("det.onnx")).expect("read");
    std::fs::write(dir.path().join("det.onnx"), &det[..det.len() / 3]).expect("truncate");
    let err = PpOcr::load(dir.path()).expect_err("a truncated file does not load");
    assert!(matches!(err, ModuleError::BadModel { .. }), "{err:?}");
    assert!(err.to_string().contains("vprog models fetch pp-ocrv6-small --force"), "{err}");
    // A recogniser without its charset: the angle classifier in its place.
    std::fs::copy(src.join("det.onnx"), dir.path().join("det.onnx")).expect("copy");
    std::fs::copy(src.join("cls.onnx"), dir.path().join("rec.onnx")).expect("copy");
    let err = PpOcr::load(dir.path()).expect_err("a recogniser without a charset");
    assert!(err.to_string().contains("charset"), "{err}");
    // A missing file.
    std::fs::copy(src.join("rec.onnx"), dir.path().join("rec.onnx")).expect("copy");
    std::fs::remove_file(dir.path().join("cls.onnx")).expect("rm");
    let err = PpOcr::load(dir.path()).expect_err("a missing file");
    assert!(err.to_string().contains("cls.onnx") && err.to_string().contains("vprog models fetch"), "{err}");
}
