//! Reasoning over values: the operators of the language, counting and picking
//! from collections, temporal relations, text and multiple-choice answers.
//!
//! - [`ops`]: `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`, `or`, `not`, `add`,
//!   `sub`, `mul`, `div`, `neg` (the targets the DSL lowers its operators to).
//! - [`collections`]: `count`, `exists`, `first`, `last`, `longest`, `concat`.
//! - [`temporal`]: `before`, `after`, `during`, `duration`, `start`, `end`.
//! - [`text`]: `contains`, `describe`.
//! - [`choose`]: `choose_by_text`, a lexical multiple-choice baseline.
//!
//! Every module here is pure (its output depends only on its arguments) and
//! never panics: bad or empty inputs become [`ModuleError`]s.

pub mod choose;
pub mod collections;
pub mod ops;
pub mod temporal;
pub mod text;

use std::sync::Arc;

use vprog_runtime::value::{Clip, TimeRange};
use vprog_runtime::{Args, Module, ModuleError, Registry, Value};

/// Every module of this family, in registration order.
pub fn modules() -> Vec<Arc<dyn Module>> {
    let mut all: Vec<Arc<dyn Module>> = Vec::new();
    all.extend(ops::modules());
    all.extend(collections::modules());
    all.extend(temporal::modules());
    all.extend(text::modules());
    all.extend(choose::modules());
    all
}

/// Registers this family's modules.
///
/// A name that is already taken is logged and skipped; the other modules are
/// still registered.
pub fn register(registry: &mut Registry) {
    for module in modules() {
        if let Err(e) = registry.register(module) {
            tracing::error!(error = %e, "symbolic: module not registered");
        }
    }
}

/// Slack for comparing times that went through decimal parsing (one microsecond).
pub(crate) const TIME_EPS: f64 = 1e-6;

/// The argument called `name`, or an "is missing" error.
pub(crate) fn arg<'a>(args: &'a Args, name: &str) -> Result<&'a Value, ModuleError> {
    args.get(name).ok_or_else(|| ModuleError::invalid(name, "missing"))
}

/// The error for a value whose kind a module does not accept.
pub(crate) fn unsupported(module: &str, param: &str, expected: &str, got: &Value) -> ModuleError {
    ModuleError::invalid(param, format!("{module}: expected {expected}, got {}", got.type_of()))
}

/// The error for an empty collection where an element is needed.
pub(crate) fn empty(module: &str, param: &str, what: &str) -> ModuleError {
    ModuleError::invalid(param, format!("{module}: `{param}` is empty (it has no {what})"))
}

/// A clip argument's value as a clip (a video is its whole-video clip).
pub(crate) fn as_clip(v: &Value) -> Option<Arc<Clip>> {
    match v {
        Value::Clip(c) => Some(c.clone()),
        Value::Video(v) => Some(Arc::new(Clip::whole(v.clone()))),
        _ => None,
    }
}

/// A clip of `ranges` of `video`: sorted, overlaps merged, inverted or NaN
/// ranges dropped. Unlike `Clip::new` it does not clamp to the video's
/// probed duration (so a damaged probe cannot make it panic); callers pass
/// ranges cut from an existing clip, which are inside the video already.
pub(crate) fn merged_clip(video: Arc<vprog_runtime::value::VideoRef>, ranges: impl IntoIterator<Item = TimeRange>) -> Clip {
    let mut ranges: Vec<TimeRange> = ranges.into_iter().filter(|r| r.end >= r.start).collect();
    ranges.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut segments: Vec<TimeRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match segments.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => segments.push(r),
        }
    }
    Clip { video, segments }
}

/// The `[start, end]` span of every track that has at least one point.
pub(crate) fn track_span(track: &vprog_runtime::value::Track) -> Option<TimeRange> {
    let (lo, hi) = track.points.iter().map(|p| p.time).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| (lo.min(t), hi.max(t)));
    (lo <= hi).then_some(TimeRange { start: lo, end: hi })
}

/// Total length of the union of `ranges` (overlaps counted once).
pub(crate) fn union_length(mut ranges: Vec<TimeRange>) -> f64 {
    ranges.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut total = 0.0;
    let mut current: Option<TimeRange> = None;
    for r in ranges {
        match current.as_mut() {
            Some(c) if r.start <= c.end => c.end = c.end.max(r.end),
            _ => {
                if let Some(c) = current.take() {
                    total += c.len();
                }
                current = Some(r);
            }
        }
    }
    if let Some(c) = current {
        total += c.len();
    }
    total
}

/// Covered seconds of a timed value, as the `duration` module defines them:
/// a clip's segment lengths, the sum of cue lengths, the union of track spans,
/// the span of frames / detections / masks, zero for instants. `None` for
/// values that have no place in time.
pub(crate) fn covered_seconds(v: &Value) -> Option<f64> {
    match v {
        Value::Video(video) => Some(video.info.duration.max(0.0)),
        Value::Clip(c) => Some(c.duration()),
        Value::TimedText(t) => Some(t.cues.iter().map(|c| (c.end - c.start).max(0.0)).sum()),
        Value::Tracks(t) => Some(union_length(t.tracks.iter().filter_map(track_span).collect())),
        Value::Frame(_) | Value::Timestamp(_) => Some(0.0),
        Value::Frames(_) | Value::Detections(_) | Value::Masks(_) => Some(v.time_span().map_or(0.0, |s| s.len())),
        _ => None,
    }
}
