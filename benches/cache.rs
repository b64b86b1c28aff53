//! Second run of the same program on the same video against the first run
//! with an empty cache: from the on-disk cache (what a new process sees: empty
//! memory, warm disk), and within one process (memory cache, as the planner
//! sees it). Target: at least 20x faster.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::RunInputs;

/// Shots in the first minute of Big Buck Bunny, and 32 frames over the whole film.
const PROGRAM: &str = "opening = trim(video, 00:00, 01:00)\ncuts = sample(opening, scenes: 0.4)\nframes = sample(video, count: 32)\nanswer count(cuts) + count(frames)\n";

fn bench(c: &mut Criterion) {
    let rt = common::runtime();
    let video = vprog_modules::video::open_video(&common::media("bbb.mp4"), None).expect("bbb.mp4 opens");
    let inputs = RunInputs { video: Some(video), ..RunInputs::default() };
    let plan = common::plan(PROGRAM);
    let warm = tempfile::tempdir().expect("tempdir");
    common::run(&rt, &plan, &inputs, Cache::new(Some(warm.path().to_path_buf()), 1 << 30));

    let mut group = c.benchmark_group("cache_second_run");
    group.sample_size(10);
    group.bench_function("first_run_empty_cache", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("tempdir"),
            |dir| common::run(&rt, &plan, &inputs, Cache::new(Some(dir.path().to_path_buf()), 1 << 30)),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("second_run_from_disk_cache", |b| {
        b.iter(|| common::run(&rt, &plan, &inputs, Cache::new(Some(warm.path().to_path_buf()), 1 << 30)))
    });
    let shared = std::sync::Arc::new(Cache::new(Some(warm.path().to_path_buf()), 1 << 30));
    common::run(&rt, &plan, &inputs, shared.clone());
    group.bench_function("second_run_same_process_memory_cache", |b| b.iter(|| common::run(&rt, &plan, &inputs, shared.clone())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
