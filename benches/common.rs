//! Shared helpers for the benchmarks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, Executor, RunInputs, RunOutcome};
use vprog_runtime::plan::LogicalPlan;

/// A media file, or a panic telling how to fetch it.
pub fn media(rel: &str) -> PathBuf {
    let dir = std::env::var_os("VPROG_MEDIA_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("media"));
    let p = dir.join(rel);
    assert!(p.exists(), "{} is missing: run `bash scripts/fetch-media.sh`", p.display());
    p
}

/// Parses, checks and optimises a program against the built-in modules.
pub fn plan(src: &str) -> LogicalPlan {
    let registry = vprog_modules::registry();
    let program = vprog_grammar::parse(src).expect("benchmark program parses");
    let out = vprog_runtime::check::check(&program, &registry);
    let mut plan = out.plan.unwrap_or_else(|| panic!("benchmark program checks: {:?}", out.diagnostics));
    vprog_runtime::plan::optimize(&mut plan);
    plan
}

/// Runs a plan with a given cache; panics if the run fails.
pub fn run(rt: &tokio::runtime::Runtime, plan: &LogicalPlan, inputs: &RunInputs, cache: impl Into<Arc<Cache>>) -> RunOutcome {
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
