//! MiniLM (all-MiniLM-L6-v2) sentence-embedding throughput on the CPU at
//! batch 32: vprog's candle embedder against the same model in PyTorch
//! sentence-transformers, in the same run. Target: at least 1.0x.
//!
//! Also CLIP image-embedding throughput at batch [`CLIP_BATCH`] (the two
//! real frames of the parity goldens, tiled), vprog's candle port against
//! `transformers`' `CLIPModel` on the same checkpoint, in the same run: the
//! tiny random checkpoint of `modules/tests/data/hf/clip-tiny`, and a
//! base-size one (ViT-B/32 architecture, random weights) when
//! `VPROG_BENCH_CLIP_BASE` names its directory
//! (`python scripts/parity/make_goldens.py --base --out DIR`). The PyTorch
//! side is `scripts/bench_clip_torch.py`; it needs torch and transformers
//! (`scripts/parity/requirements.txt`). Target: at least 1.0x. Peak memory
//! (RSS) of each side is printed too.
//!
//! Sentences: the TED talk's cues (`media/ted/test.srt`) plus NExT-QA
//! questions (`shared/data/nextqa/val.csv` beside the repository), 256 in all.
//! Both sides embed exactly these (the Rust side writes them to a file that
//! `scripts/bench_minilm_torch.py` reads), sorted by length into batches of 32,
//! on 2 threads (candle's are its rayon pool: set `RAYON_NUM_THREADS=2` on a
//! machine with more cores; torch gets `--threads 2`), best of 5 passes each.
//!
//! The comparison needs Python with `sentence-transformers` (`pip install
//! sentence-transformers`); `VPROG_BENCH_PYTHON` names the interpreter
//! (default `python3`). Without it the Rust figure is printed with the
//! command that runs the PyTorch side. Needs `VPROG_MODELS` to hold the model
//! (`vprog models fetch all-minilm-l6-v2`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use vprog_models::catalog::MINILM;
use vprog_modules::retrieval::embed::{Embedder, BATCH};
use vprog_modules::vision::clip::ClipCheckpoint;
use vprog_modules::ModelStore;
use vprog_runtime::value::Frame;

/// The allocator the `vprog` binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SENTENCES: usize = 256;
/// Images per CLIP forward pass.
const CLIP_BATCH: usize = 16;
const THREADS: usize = 2;
const PASSES: usize = 5;

/// The fields of one CSV line (double quotes, `""` escapes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("a field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            _ => fields.last_mut().expect("a field").push(c),
        }
    }
    fields
}

fn nextqa_csv() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.ancestors()
        .map(|a| a.join("shared/data/nextqa/val.csv"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("shared/data/nextqa/val.csv not found beside {}", root.display()))
}

/// The TED cues, then NExT-QA questions, [`SENTENCES`] in all.
fn sentences() -> Vec<String> {
    let ted = vprog_modules::subtitles::parse_subtitle_file(&common::media("ted/test.srt")).expect("test.srt parses");
    let mut out: Vec<String> = ted.cues.iter().map(|c| c.text.replace('\n', " ")).collect();
    let csv = std::fs::read_to_string(nextqa_csv()).expect("val.csv is readable");
    let mut lines = csv.lines();
    let header = csv_fields(lines.next().expect("a header"));
    let q = header.iter().position(|h| h == "question").expect("a question column");
    out.extend(lines.map(|l| csv_fields(l).swap_remove(q)).take(SENTENCES.saturating_sub(out.len())));
    out.truncate(SENTENCES);
    assert_eq!(out.len(), SENTENCES);
    out
}

/// Best wall time of [`PASSES`] passes over `texts` (after one warm-up pass).
fn best_of(embedder: &Embedder, texts: &[&str]) -> Duration {
    embedder.embed(texts).expect("embeds");
    (0..PASSES)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(embedder.embed(texts).expect("embeds"));
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Runs `scripts/SCRIPT` with `args` under `VPROG_BENCH_PYTHON` (default
/// `python3`); its last JSON line, or why not.
fn run_python(script: &str, args: &[std::ffi::OsString]) -> Result<serde_json::Value, String> {
    let python = std::env::var("VPROG_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(script);
    let out = Command::new(&python).arg(&script).args(args).output().map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
        return Err(format!("{python} {} failed: {last}", script.display()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or("no result line")?;
    serde_json::from_str(line).map_err(|e| e.to_string())
}

/// Runs the PyTorch side on `file`; its sentences/s, or why not.
fn torch_rate(file: &Path) -> Result<f64, String> {
    let mut args: Vec<std::ffi::OsString> = vec!["--sentences".into(), file.into()];
    args.extend(["--threads", &THREADS.to_string(), "--batch", &BATCH.to_string(), "--repeat", &PASSES.to_string()].map(Into::into));
    let v = run_python("bench_minilm_torch.py", &args)?;
    v["sentences_per_s"].as_f64().ok_or_else(|| "no sentences_per_s".into())
}

/// The CLIP checkpoints to compare: the committed tiny one, and the
/// base-size one of `VPROG_BENCH_CLIP_BASE`.
fn clip_checkpoints() -> Vec<(String, PathBuf)> {
    let mut out = vec![("tiny".to_string(), Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/tests/data/hf/clip-tiny"))];
    if let Some(dir) = std::env::var_os("VPROG_BENCH_CLIP_BASE") {
        out.push(("base (ViT-B/32)".to_string(), PathBuf::from(dir)));
    }
    out
}

fn clip_frames() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/tests/data/hf/frames");
    vec![dir.join("bbb_60s.png"), dir.join("vtest_20s.png")]
}

/// The frames preprocessed and tiled to one batch of [`CLIP_BATCH`].
fn clip_batch(clip: &ClipCheckpoint) -> candle_core::Tensor {
    let frames: Vec<Frame> = clip_frames()
        .iter()
        .map(|p| {
            let img = image::open(p).expect("a frame").to_rgb8();
            Frame { time: 0.0, width: img.width(), height: img.height(), rgb: std::sync::Arc::from(img.into_raw()) }
        })
        .collect();
    let tiled: Vec<Frame> = frames.iter().cycle().take(CLIP_BATCH).cloned().collect();
    clip.pixel_values(&tiled, &candle_core::Device::Cpu).expect("preprocessing")
}

/// Best wall time of [`PASSES`] CLIP image passes (after a warm-up).
fn clip_best_of(clip: &ClipCheckpoint, batch: &candle_core::Tensor) -> Duration {
    clip.model.image_features(batch).expect("forward");
    (0..PASSES)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(clip.model.image_features(batch).expect("forward"));
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The PyTorch side for the checkpoint in `dir`: `(images/s, peak RSS MB)`.
fn torch_clip(dir: &Path) -> Result<(f64, f64), String> {
    let mut args: Vec<std::ffi::OsString> = vec!["--model".into(), dir.into(), "--frames".into()];
    args.extend(clip_frames().into_iter().map(Into::into));
    args.extend(["--batch", &CLIP_BATCH.to_string(), "--threads", &THREADS.to_string(), "--repeat", &PASSES.to_string()].map(Into::into));
    let v = run_python("bench_clip_torch.py", &args)?;
    Ok((v["images_per_s"].as_f64().ok_or("no images_per_s")?, v["peak_rss_mb"].as_f64().unwrap_or(0.0)))
}

/// This process's peak resident memory in MB (Linux), if known.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

/// The CLIP comparison (run with `--bench` only), after the MiniLM one.
fn compare_clip() {
    println!("\nCLIP image embedding, batch {CLIP_BATCH} (2 real frames tiled, 224x224), best of {PASSES} passes, {THREADS} threads:");
    for (name, dir) in clip_checkpoints() {
        let clip = ClipCheckpoint::open(&name, &dir, &candle_core::Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
        let batch = clip_batch(&clip);
        let rust_a = clip_best_of(&clip, &batch);
        let torch = torch_clip(&dir);
        let rust_b = clip_best_of(&clip, &batch);
        let rust = CLIP_BATCH as f64 / rust_a.min(rust_b).as_secs_f64();
        let rss = peak_rss_mb().map_or("?".into(), |m| format!("{m:.0} MB"));
        println!("  {name}: vprog (candle) {rust:8.1} images/s (process peak RSS so far {rss})");
        match torch {
            Ok((t, mb)) => {
                println!("  {name}: PyTorch transformers {t:8.1} images/s (peak RSS {mb:.0} MB); ratio {:.2}x (target >= 1.0x)", rust / t)
            }
            Err(why) => println!("  {name}: PyTorch side not run: {why} (pip install -r scripts/parity/requirements.txt)"),
        }
    }
}

fn main() {
    let store = ModelStore::from_env();
    let embedder = Embedder::load(&store, MINILM).unwrap_or_else(|e| panic!("{e}"));
    let owned = sentences();
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();

    let mut c = Criterion::default().configure_from_args().sample_size(10).measurement_time(Duration::from_secs(15));
    let mut group = c.benchmark_group("minilm_cpu");
    group.throughput(Throughput::Elements(SENTENCES as u64));
    group.bench_function("candle_batch32_256_sentences", |b| b.iter(|| embedder.embed(&texts).expect("embeds")));
    group.finish();
    let tiny = ClipCheckpoint::open("clip-tiny", &clip_checkpoints()[0].1, &candle_core::Device::Cpu).unwrap_or_else(|e| panic!("{e}"));
    let batch = clip_batch(&tiny);
    let mut group = c.benchmark_group("clip_image_cpu");
    group.throughput(Throughput::Elements(CLIP_BATCH as u64));
    group.bench_function("candle_tiny_batch16", |b| b.iter(|| tiny.model.image_features(&batch).expect("forward")));
    group.finish();

    // `cargo test --all-targets` runs benches once as a smoke test: skip the comparison there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // The comparison, in this run: Rust, PyTorch, Rust again (best Rust pass
    // kept), so a burst of load elsewhere hurts both sides alike.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sentences.json");
    std::fs::write(&file, serde_json::to_string(&owned).expect("json")).expect("sentences file");
    let rust_a = best_of(&embedder, &texts);
    let torch = torch_rate(&file);
    let rust_b = best_of(&embedder, &texts);
    let rust = SENTENCES as f64 / rust_a.min(rust_b).as_secs_f64();
    println!("\nMiniLM CPU embedding, batch {BATCH}, {SENTENCES} sentences, best of {PASSES} passes:");
    println!("  vprog (candle):                      {rust:8.1} sentences/s");
    match torch {
        Ok(t) => {
            println!("  PyTorch sentence-transformers ({THREADS} thr): {t:8.1} sentences/s");
            println!("  ratio vprog / PyTorch:               {:8.2}x (target >= 1.0x)", rust / t);
        }
        Err(why) => {
            println!("  PyTorch side not run: {why}");
            println!(
                "  to compare: `pip install sentence-transformers` and rerun, or run \
                 `python3 scripts/bench_minilm_torch.py --threads {THREADS}` (VPROG_BENCH_PYTHON picks the interpreter)"
            );
        }
    }
    compare_clip();
    c.final_summary();
}
