//! Built-in vprog modules.
//!
//! - [`video`]: opening and probing videos, sampling frames (by rate, count,
//!   timestamps or scene changes) and cutting clips, on the system FFmpeg.
//! - [`subtitles`]: sidecar and embedded subtitles as timed text.
//! - [`reasoning`]: counting, filtering, temporal relations, selection and the
//!   operators of the language.

pub mod reasoning;
pub mod subtitles;
pub mod video;

use vprog_runtime::Registry;

/// A registry holding every built-in module.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    video::register(&mut r);
    subtitles::register(&mut r);
    reasoning::register(&mut r);
    r
}
