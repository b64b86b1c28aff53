//! The fast path's time on real video, with warm models: the first minute of
//! Big Buck Bunny (1280x720, cut with ffmpeg into a temporary file; music, no
//! speech, titles) and the whole 10-minute film. Each iteration runs the
//! fast program (`planner::fast_slow::fast_program`) on a fresh step cache, so
//! every step is computed; models stay loaded between iterations, as in a
//! `vprog eval` run. Before measuring, one run per video prints the time of
//! every stage (decode, OCR, shots, detection, speech, answer). The 1-minute
//! video is sampled by criterion; the 10-minute one is timed by that one run
//! (criterion's minimum of 10 samples would take most of an hour).
//!
//! `cargo bench --bench fast_path` (`-- 1min` or `-- 10min` for one video).
//! Targets (2 cores): ≤ 10 s for the 1-minute 720p video, ≤ 60 s for the 10-minute one.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use vprog_planner::fast_slow::{fast_program, ReasonConfig};
use vprog_planner::prompt::{Question, VideoFacts};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, Executor, RunInputs};
use vprog_runtime::value::VideoRef;

mod common;

/// The allocator the `vprog` binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OPTIONS: [&str; 5] = ["a rabbit", "a dog", "a dragon", "a robot", "a horse"];

fn first_minute(dir: &Path) -> PathBuf {
    let out = dir.join("bbb-1min.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(common::media("bbb.mp4"))
        .args(["-t", "60", "-c", "copy"])
        .arg(&out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not cut the first minute of bbb.mp4");
    out
}

fn facts(v: &VideoRef) -> VideoFacts {
    let has = |kind: &str| v.info.streams.iter().any(|s| s.kind == kind);
    VideoFacts {
        duration: Some(v.info.duration),
        subtitles: Some(v.subtitles.is_some() || has("subtitle")),
        audio: Some(has("audio")),
        size: Some((v.info.width, v.info.height)),
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let rt = common::runtime();
    let registry = Arc::new(vprog_modules::registry());
    let videos = [("1min", first_minute(tmp.path())), ("10min", common::media("bbb.mp4"))];
    let benching = std::env::args().any(|a| a == "--bench");
    // `-- 1min` / `-- 10min`: criterion's filter (a substring of the benchmark's
    // id), also applied to the timed runs.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut warm = false;
    let mut group = c.benchmark_group("fast_path");
    group.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(60));
    for (name, path) in videos {
        if filter.as_deref().is_some_and(|f| !format!("fast_path/{name}").contains(f)) {
            continue;
        }
        let video = vprog_modules::video::open_video(&path, None).unwrap_or_else(|e| panic!("{e}"));
        let question = Question {
            text: "What animal is the main character of the film?".into(),
            options: OPTIONS.iter().map(|s| s.to_string()).collect(),
            video: facts(&video),
        };
        let program = fast_program(&question, &registry, &ReasonConfig::default());
        let plan = {
            let parsed = vprog_grammar::parse(&program).expect("the fast program parses");
            let out = vprog_runtime::check::check(&parsed, &registry);
            let mut plan = out.plan.unwrap_or_else(|| panic!("the fast program checks: {:?}", out.diagnostics));
            vprog_runtime::dataflow::optimize(&mut plan);
            plan
        };
        if !benching {
            // `cargo test --all-targets` runs benchmarks once as tests: the
            // program checking is that test; minutes of decoding are not.
            continue;
        }
        let inputs =
            RunInputs { video: Some(video.clone()), question: Some(question.text.clone()), options: Some(question.options.clone()) };
        let run = || {
            let exec = Executor::new(Arc::new(Cache::new(None, 1 << 30)), ExecConfig::default());
            let out = rt.block_on(exec.run(&plan, &inputs));
            if let Err(e) = &out.result {
                panic!("the fast path failed on {name}: {e}");
            }
            out
        };
        // The first video run warms the models (they stay loaded for the next),
        // then one run per video prints its stages.
        if !warm {
            run();
            warm = true;
        }
        let out = run();
        eprintln!(
            "fast path on {name} ({:.0} s, {}x{}): {:.2} s\n{program}",
            video.info.duration,
            video.info.width,
            video.info.height,
            out.wall.as_secs_f64()
        );
        for s in &out.steps {
            eprintln!("  {:<10} {:>8.2} s  {}", s.op, s.duration.as_secs_f64(), s.text);
        }
        if name == "10min" {
            // Criterion takes at least 10 samples: 10 runs of several minutes
            // each. The 10-minute video is timed by the one run above.
            eprintln!("fast_path/10min: one timed run, {:.2} s (not sampled)", out.wall.as_secs_f64());
            continue;
        }
        group.bench_function(name, |b| b.iter(run));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
