//! Helpers shared by the integration tests of the `vprog` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A real media file (`VPROG_MEDIA_DIR` or `<workspace>/media`), or a panic
/// telling how to fetch it.
pub fn media(rel: &str) -> PathBuf {
    let dir = std::env::var_os("VPROG_MEDIA_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("media"));
    let p = dir.join(rel);
    assert!(p.exists(), "{} is missing: run `bash scripts/fetch-media.sh`", p.display());
    p
}

/// Where the language model's prepared weights and prompt prefixes are kept
/// for every test process (checked on reading, so sharing them is safe): the
/// target directory's, which outlives the runs.
pub fn llm_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("llm-cache")
}

/// Runs the `vprog` binary with its step cache and compiled-plugin cache
/// under `cache`, and without colours.
pub fn vprog(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vprog"))
        .args(args)
        .env("VPROG_CACHE_DIR", cache)
        .env("VPROG_LLM_CACHE_DIR", llm_cache())
        .env("VPROG_PLUGIN_CACHE", cache.join("plugins"))
        .env("NO_COLOR", "1")
        .output()
        .expect("vprog runs")
}
