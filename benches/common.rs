//! Shared helpers for the benchmarks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vprog_runtime::cache::Cache;
use vprog_runtime::dataflow::Dataflow;
use vprog_runtime::exec::{ExecConfig, Executor, RunInputs, RunOutcome};

/// A media file, or a panic telling how to fetch it.
pub fn media(rel: &str) -> PathBuf {
    let dir = std::env::var_os("VPROG_MEDIA_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("media"));
    let p = dir.join(rel);
    assert!(p.exists(), "{} is missing: run `bash scripts/fetch-media.sh`", p.display());
    p
}

/// Parses, checks and optimises a program against the built-in modules.
pub fn plan(src: &str) -> Dataflow {
    let registry = vprog_modules::registry();
    let program = vprog_grammar::parse(src).expect("benchmark program parses");
    let out = vprog_runtime::check::check(&program, &registry);
    let mut plan = out.plan.unwrap_or_else(|| panic!("benchmark program checks: {:?}", out.diagnostics));
    vprog_runtime::dataflow::optimize(&mut plan);
    plan
}

/// Runs a plan with a given cache; panics if the run fails.
pub fn run(rt: &tokio::runtime::Runtime, plan: &Dataflow, inputs: &RunInputs, cache: impl Into<Arc<Cache>>) -> RunOutcome {
    let exec = Executor::new(cache.into(), ExecConfig::default());
    let out = rt.block_on(exec.run(plan, inputs));
    if let Err(e) = &out.result {
        panic!("benchmark run failed: {e}");
    }
    out
}

/// A multi-threaded tokio runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// The frames of a golden file's `cases` (each `media` at `t` s), decoded
/// with the ffmpeg CLI as the golden scripts decode them; `time` is 0.
pub fn golden_frames(golden: &serde_json::Value) -> Vec<vprog_runtime::value::Frame> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    golden["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let out = std::process::Command::new("ffmpeg")
                .args(["-nostdin", "-v", "error", "-ss", &format!("{}", c["t"]), "-i"])
                .arg(root.join(c["media"].as_str().expect("media")))
                .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
                .output()
                .expect("ffmpeg runs");
            let (w, h) = (c["width"].as_u64().expect("w") as u32, c["height"].as_u64().expect("h") as u32);
            assert_eq!(out.stdout.len(), (w * h * 3) as usize, "{c}: run scripts/fetch-media.sh");
            vprog_runtime::value::Frame { time: 0.0, width: w, height: h, rgb: out.stdout.into() }
        })
        .collect()
}

/// Peak resident memory of this process so far, MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
