//! Uniformly sampling 32 frames from the 596 s Big Buck Bunny with vprog's
//! seeking sampler, against decoding every frame with the `ffmpeg` CLI
//! (`-vf fps=32/596`), in the same run. Target: at least 10x faster.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::RunInputs;

fn bench(c: &mut Criterion) {
    let rt = common::runtime();
    let path = common::media("bbb.mp4");
    let video = vprog_modules::video::open_video(&path, None).expect("bbb.mp4 opens");
    let duration = video.info.duration;
    let inputs = RunInputs { video: Some(video), ..RunInputs::default() };
    let plan = common::plan("answer sample(video, count: 32)");

    let mut group = c.benchmark_group("sample_32_frames_bbb");
    group.sample_size(10);
    group.bench_function("vprog_sample_count_32", |b| {
        b.iter(|| {
            let out = common::run(&rt, &plan, &inputs, Cache::disabled());
            match out.result {
                Ok(vprog_runtime::Value::Frames(f)) => assert_eq!(f.len(), 32),
                other => panic!("expected 32 frames, got {other:?}"),
            }
        })
    });
    group.bench_function("ffmpeg_cli_decode_all_fps_filter", |b| {
        b.iter(|| {
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-nostdin", "-i"])
                .arg(&path)
                .args(["-an", "-vf", &format!("fps=32/{duration:.3}"), "-f", "null", "-"])
                .status()
                .expect("ffmpeg runs");
            assert!(status.success());
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
