//! Whisper tiny.en's real-time factor on the 62 s TED talk: processing time
//! (audio decoding, resampling, log-mel, encoding and greedy decoding; the
//! model is loaded once before measuring) over the audio's duration, with 2
//! CPU threads. Target: RTF 0.5 or less.
//!
//! Needs `VPROG_MODELS` holding `whisper-tiny.en` (`vprog models fetch
//! whisper-tiny.en`) and the media of `bash scripts/fetch-media.sh`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use vprog_runtime::{Args, Module, StepContext, Value};

fn transcribe(rt: &tokio::runtime::Runtime, module: &Arc<dyn Module>, video: &Value) -> (usize, f64) {
    let args = Args::with_defaults(module.signature(), [("source", video.clone())], vec![]);
    let ctx = StepContext::standalone("bench");
    let out = rt.block_on(module.call(args, &ctx)).unwrap_or_else(|e| panic!("transcribe failed: {e}"));
    let Value::TimedText(t) = out else { panic!("transcribe returned {}", out.type_of()) };
    let seconds = ctx.notes.get("timing").and_then(|t| t["audio_seconds"].as_f64()).expect("a timing note");
    (t.cues.len(), seconds)
}

fn bench(c: &mut Criterion) {
    // Two cores: candle's matrix products and the blocking pool.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "2");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    let path = common::media("ted/test.mp4");
    let video = Value::Video(vprog_modules::video::open_video(&path, None).expect("test.mp4 opens"));
    let registry = vprog_modules::registry();
    let module = registry.get("transcribe").expect("transcribe is registered").clone();

    // Loads and caches the model, and gives the audio duration.
    let (cues, seconds) = transcribe(&rt, &module, &video);
    assert!(cues > 0, "no speech recognised");
    let started = Instant::now();
    let runs = 3;
    for _ in 0..runs {
        transcribe(&rt, &module, &video);
    }
    let per_run = started.elapsed().as_secs_f64() / f64::from(runs);
    println!("whisper tiny.en on the TED talk: {per_run:.2} s for {seconds:.2} s of audio, RTF {:.3}", per_run / seconds);

    let mut group = c.benchmark_group("whisper_tiny_en_ted_62s");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(40));
    group.bench_function("transcribe", |b| b.iter(|| transcribe(&rt, &module, &video)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
