//! `read_text`'s engines on real frames: PP-OCRv6 on tract against Tesseract
//! and against PP-OCR's reference runtime (rapidocr 3.10 on onnxruntime).
//!
//! The frames are the 12 of `scripts/goldens/ppocr.json` (TED titles and
//! captions, Big Buck Bunny's title card and credits, a GNOME screencast,
//! two frames without text), decoded with the ffmpeg CLI. Each iteration
//! reads all 12 on one core (`read_text` runs one such reader per core).
//! Before measuring, it prints the model load time, the peak resident
//! memory, and, when `VPROG_REFERENCE_PYTHON` names a Python with rapidocr
//! and onnxruntime installed (scripts/goldens/ppocr.py says how), the
//! reference's frames/s on the same frames in the same run
//! (scripts/bench/ppocr_reference.py).
//!
//! `cargo bench --bench ocr`. Target: PP-OCR frames/s ≥ 1.0× onnxruntime's.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use vprog_modules::vision::ocr::{read_frames, OcrParams};
use vprog_modules::vision::ppocr::{PpOcr, PpOcrParams};
use vprog_modules::ModelStore;
use vprog_runtime::value::Frame;

/// The allocator the `vprog` binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn frames() -> Vec<Frame> {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("scripts/goldens/ppocr.json")).expect("golden")).expect("JSON");
    common::golden_frames(&golden)
}

fn reference() {
    let Some(python) = std::env::var_os("VPROG_REFERENCE_PYTHON") else {
        eprintln!("reference: set VPROG_REFERENCE_PYTHON to a Python with rapidocr==3.10.0 and onnxruntime to time it here");
        return;
    };
    let out = Command::new(python).arg(root().join("scripts/bench/ppocr_reference.py")).output().expect("the reference Python runs");
    eprintln!("reference (rapidocr 3.10 + onnxruntime): {}", String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() {
        eprintln!("reference failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let dir = ModelStore::from_env().locate("pp-ocrv6-small").map(|m| m.dir).unwrap_or_else(|e| panic!("{e}"));
    // `cargo test --all-targets` runs this once without `--bench`: skip the timed passes there.
    if std::env::args().any(|a| a == "--bench") {
        report(&frames, &dir);
    }
    let pp = PpOcr::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let params = PpOcrParams::default();
    let mut g = c.benchmark_group("ocr");
    g.sample_size(10).measurement_time(Duration::from_secs(60));
    g.bench_function("ppocr_12_frames", |b| b.iter(|| frames.iter().map(|f| pp.read(f, &params).expect("reads").len()).sum::<usize>()));
    g.bench_function("tesseract_12_frames", |b| b.iter(|| read_frames(&frames.iter().collect::<Vec<_>>(), &OcrParams::default())));
    g.finish();
}

/// Load time, one first and one warm pass, peak memory, Tesseract's pass and the reference's figures.
fn report(frames: &[Frame], dir: &Path) {
    let before = common::peak_rss_mib();
    let t = Instant::now();
    let pp = PpOcr::load(dir).unwrap_or_else(|e| panic!("{e}"));
    let load = t.elapsed().as_secs_f64();
    let params = PpOcrParams::default();
    let t = Instant::now();
    let lines: usize = frames.iter().map(|f| pp.read(f, &params).expect("reads").len()).sum();
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for f in frames {
        pp.read(f, &params).expect("reads");
    }
    let warm = t.elapsed().as_secs_f64();
    eprintln!(
        "ppocr: load {load:.2} s; first pass {first:.1} s (plans optimised per shape), warm pass {warm:.1} s = {:.2} frames/s, {lines} lines; \
         peak RSS {:.0} MiB (before loading {before:.0} MiB)",
        frames.len() as f64 / warm,
        common::peak_rss_mib()
    );
    let t = Instant::now();
    let tess = read_frames(&frames.iter().collect::<Vec<_>>(), &OcrParams::default()).expect("tesseract reads");
    eprintln!(
        "tesseract: one pass {:.1} s = {:.2} frames/s, {} lines",
        t.elapsed().as_secs_f64(),
        frames.len() as f64 / t.elapsed().as_secs_f64(),
        tess.iter().map(Vec::len).sum::<usize>()
    );
    reference();
}

criterion_group!(benches, bench);
criterion_main!(benches);
