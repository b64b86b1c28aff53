//! Helpers shared by the planner's integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// The real TED talk (`VPROG_MEDIA_DIR` or `<workspace>/media`), or a panic
/// telling how to fetch it.
pub fn ted() -> PathBuf {
    let dir = std::env::var_os("VPROG_MEDIA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("media"));
    let video = dir.join("ted").join("test.mp4");
    assert!(video.is_file(), "{} is missing: run `bash scripts/fetch-media.sh`", video.display());
    video
}
