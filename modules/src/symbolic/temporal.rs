//! Time: `before`, `after`, `during` (filtering by a temporal relation to an
//! anchor) and `duration`, `start`, `end` (measuring).

use std::sync::Arc;

use async_trait::async_trait;
use vprog_runtime::value::{Detections, Masks, TimeRange, TimedText, Tracks};
use vprog_runtime::{Args, Module, ModuleError, Param, ParamType, Returns, Signature, StepContext, Type, Value};

use super::{arg, as_clip, covered_seconds, merged_clip, track_span, unsupported, TIME_EPS};

/// Every temporal module.
pub fn modules() -> Vec<Arc<dyn Module>> {
    vec![
        Arc::new(Temporal::new(Relation::Before)),
        Arc::new(Temporal::new(Relation::After)),
        Arc::new(Temporal::new(Relation::During)),
        Arc::new(DurationOf::new()),
        Arc::new(TimeBound::new(Bound::Start)),
        Arc::new(TimeBound::new(Bound::End)),
    ]
}

// ---------------------------------------------------------------------------
// before, after, during
// ---------------------------------------------------------------------------

/// Which relation a [`Temporal`] module filters by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `before`: items that end at or before the anchor starts.
    Before,
    /// `after`: items that start at or after the anchor ends.
    After,
    /// `during`: items that overlap the anchor.
    During,
}

/// `before(items, anchor)`, `after(items, anchor)`, `during(items, anchor)`.
pub struct Temporal {
    rel: Relation,
    sig: Signature,
}

const BEFORE_DOC: &str = "Keeps the items that end at or before the anchor starts.
Items are cues, frames, detection frames, masks, tracks (by the span from their first \
to their last position) or clip segments; the anchor is anything with a time: a \
timestamp, clip, frame, frames, detections, masks, tracks or timed text (its whole \
span counts, so `before(x, a)` is before the first moment of `a`). A Clip is \
cut rather than filtered: its segments are clipped to the time before the \
anchor. The result has the same type as `items` and may be empty. An empty \
anchor (nothing with a time) is an error.";

const AFTER_DOC: &str = "Keeps the items that start at or after the anchor ends.
Items are cues, frames, detection frames, masks, tracks (by the span from their first \
to their last position) or clip segments; the anchor is anything with a time: a \
timestamp, clip, frame, frames, detections, masks, tracks or timed text (its whole \
span counts, so `after(x, a)` is after the last moment of `a`). A Clip is cut \
rather than filtered: its segments are clipped to the time after the anchor. \
The result has the same type as `items` and may be empty. An empty anchor \
(nothing with a time) is an error.";

const DURING_DOC: &str = "Keeps the items that overlap the anchor in time.
Items are cues, frames, detection frames, masks, tracks (by the span from their first \
to their last position) or clip segments; the anchor is a timestamp, clip, \
frame, frames, detections, masks, tracks or timed text. A clip anchor counts only its \
segments, a timed-text anchor only its cues and a tracks anchor only its \
tracks' spans (gaps between them are not \"during\"); frames, detections and \
masks count as their whole span. Two stretches of time overlap when they share time; \
an instant (a frame, a timestamp) overlaps a stretch it lies in, ends included. \
A Clip is cut rather than filtered: its segments are intersected with the \
anchor. The result has the same type as `items` and may be empty. An empty \
anchor is an error.";

impl Temporal {
    /// The module for `rel`.
    pub fn new(rel: Relation) -> Temporal {
        let (name, doc) = match rel {
            Relation::Before => ("before", BEFORE_DOC),
            Relation::After => ("after", AFTER_DOC),
            Relation::During => ("during", DURING_DOC),
        };
        let sig = Signature::new(name, "1.0.0", Returns::T, doc)
            .param(
                Param::required(
                    "items",
                    ParamType::OneOf(vec![Type::TimedText, Type::Frames, Type::Detections, Type::Tracks, Type::Masks, Type::Clip]),
                    "The timed items to filter.",
                )
                .generic(),
            )
            .param(Param::required(
                "anchor",
                ParamType::OneOf(vec![
                    Type::Timestamp,
                    Type::Clip,
                    Type::Frame,
                    Type::Frames,
                    Type::Detections,
                    Type::Tracks,
                    Type::Masks,
                    Type::TimedText,
                ]),
                "What the items are compared against in time.",
            ));
        Temporal { rel, sig }
    }
}

/// The anchor's whole span and the intervals `during` tests against.
struct Anchor {
    span: TimeRange,
    intervals: Vec<TimeRange>,
}

fn anchor_of(module: &str, v: &Value) -> Result<Anchor, ModuleError> {
    let span = v.time_span().ok_or_else(|| match v {
        Value::Clip(_) | Value::Frames(_) | Value::Detections(_) | Value::Tracks(_) | Value::TimedText(_) | Value::Masks(_) => {
            ModuleError::invalid("anchor", format!("{module}: the anchor ({}) is empty, so it has no time to compare against", v.summary()))
        }
        other => unsupported(module, "anchor", "a Timestamp, Clip, Frame, Frames, Detections, Tracks, Masks or TimedText", other),
    })?;
    let intervals = match v {
        Value::Clip(c) => c.segments.clone(),
        Value::TimedText(t) => t.cues.iter().map(|c| TimeRange { start: c.start, end: c.end.max(c.start) }).collect(),
        Value::Tracks(t) => t.tracks.iter().filter_map(track_span).collect(),
        _ => vec![span],
    };
    Ok(Anchor { span, intervals })
}

/// Whether two stretches share time (instants: lie within, ends included).
fn overlaps(a: TimeRange, b: TimeRange) -> bool {
    if a.len() > TIME_EPS && b.len() > TIME_EPS {
        a.start < b.end - TIME_EPS && b.start < a.end - TIME_EPS
    } else {
        a.start <= b.end + TIME_EPS && b.start <= a.end + TIME_EPS
    }
}

impl Anchor {
    fn keeps(&self, rel: Relation, r: TimeRange) -> bool {
        match rel {
            Relation::Before => r.end <= self.span.start + TIME_EPS,
            Relation::After => r.start >= self.span.end - TIME_EPS,
            Relation::During => self.intervals.iter().any(|iv| overlaps(r, *iv)),
        }
    }

    /// The parts of `seg` in relation `rel` to the anchor.
    fn cut(&self, rel: Relation, seg: TimeRange) -> Vec<TimeRange> {
        let clip_to = |lo: f64, hi: f64, instant_ok: bool| {
            let r = TimeRange { start: seg.start.max(lo), end: seg.end.min(hi) };
            let keep = r.end > r.start || (instant_ok && r.end >= r.start);
            keep.then_some(r)
        };
        match rel {
            Relation::Before => clip_to(f64::NEG_INFINITY, self.span.start, false).into_iter().collect(),
            Relation::After => clip_to(self.span.end, f64::INFINITY, false).into_iter().collect(),
            Relation::During => {
                self.intervals.iter().filter_map(|iv| clip_to(iv.start, iv.end, iv.len() <= 0.0 || seg.len() <= 0.0)).collect()
            }
        }
    }
}

/// Filters (or, for clips, cuts) `items` by `rel` to `anchor`.
pub fn relate(module: &str, rel: Relation, items: &Value, anchor: &Value) -> Result<Value, ModuleError> {
    let a = anchor_of(module, anchor)?;
    let instant = |t: f64| TimeRange { start: t, end: t };
    Ok(match items {
        Value::TimedText(t) => {
            let cues = t.cues.iter().filter(|c| a.keeps(rel, TimeRange { start: c.start, end: c.end.max(c.start) })).cloned().collect();
            Value::TimedText(Arc::new(TimedText { cues }))
        }
        Value::Frames(fs) => Value::Frames(Arc::new(fs.iter().filter(|f| a.keeps(rel, instant(f.time))).cloned().collect())),
        Value::Frame(f) => Value::Frames(Arc::new(a.keeps(rel, instant(f.time)).then(|| f.clone()).into_iter().collect())),
        Value::Detections(d) => {
            Value::Detections(Arc::new(Detections { frames: d.frames.iter().filter(|f| a.keeps(rel, instant(f.time))).cloned().collect() }))
        }
        Value::Tracks(t) => Value::Tracks(Arc::new(Tracks {
            tracks: t.tracks.iter().filter(|tr| track_span(tr).is_some_and(|s| a.keeps(rel, s))).cloned().collect(),
        })),
        Value::Masks(m) => {
            Value::Masks(Arc::new(Masks { masks: m.masks.iter().filter(|k| a.keeps(rel, instant(k.time))).cloned().collect() }))
        }
        Value::Clip(_) | Value::Video(_) => {
            let clip = as_clip(items).ok_or_else(|| unsupported(module, "items", "a Clip", items))?;
            let ranges: Vec<TimeRange> = clip.segments.iter().flat_map(|s| a.cut(rel, *s)).collect();
            Value::Clip(Arc::new(merged_clip(clip.video.clone(), ranges)))
        }
        other => return Err(unsupported(module, "items", "TimedText, Frames, Detections, Tracks, Masks or a Clip", other)),
    })
}

#[async_trait]
impl Module for Temporal {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        relate(self.sig.name, self.rel, arg(&args, "items")?, arg(&args, "anchor")?)
    }
}

// ---------------------------------------------------------------------------
// duration
// ---------------------------------------------------------------------------

/// `duration(x)`: covered seconds.
pub struct DurationOf {
    sig: Signature,
}

impl DurationOf {
    /// The module.
    pub fn new() -> DurationOf {
        let sig = Signature::new(
            "duration",
            "1.0.0",
            Returns::Is(Type::Duration),
            "How much time something covers: a clip's total length, the summed length of cues, the time tracks cover, or the span of frames.
Clip: the sum of its segment lengths (gaps excluded). TimedText: the sum of \
its cue lengths (overlapping cues count twice). Tracks: the time during which \
at least one track is present (from each track's first to last position). \
Frames: from the first to the last frame (a single frame is 0 s). Empty input \
is 0 s.",
        )
        .param(Param::required(
            "x",
            ParamType::OneOf(vec![Type::Clip, Type::TimedText, Type::Tracks, Type::Frames]),
            "What to measure.",
        ));
        DurationOf { sig }
    }
}

impl Default for DurationOf {
    fn default() -> Self {
        DurationOf::new()
    }
}

#[async_trait]
impl Module for DurationOf {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let x = arg(&args, "x")?;
        match x {
            Value::Clip(_) | Value::Video(_) | Value::TimedText(_) | Value::Tracks(_) | Value::Frames(_) | Value::Frame(_) => {
                Ok(Value::Duration(covered_seconds(x).unwrap_or(0.0)))
            }
            other => Err(unsupported("duration", "x", "a Clip, TimedText, Tracks or Frames", other)),
        }
    }
}

// ---------------------------------------------------------------------------
// start, end
// ---------------------------------------------------------------------------

/// Which end of a span a [`TimeBound`] module returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `start`: when it begins.
    Start,
    /// `end`: when it ends.
    End,
}

/// `start(x)` and `end(x)`: when a timed value begins or ends.
pub struct TimeBound {
    bound: Bound,
    sig: Signature,
}

impl TimeBound {
    /// The module for `bound`.
    pub fn new(bound: Bound) -> TimeBound {
        let (name, doc) = match bound {
            Bound::Start => (
                "start",
                "When a timed value begins: the earliest moment of a clip, frames, detections, tracks, cues or masks.
A single frame starts (and ends) at its own time. An empty value has no start \
and is an error.",
            ),
            Bound::End => (
                "end",
                "When a timed value ends: the latest moment of a clip, frames, detections, tracks, cues or masks.
For frames and detections this is the time of the last frame; for cues the \
latest cue end. An empty value has no end and is an error.",
            ),
        };
        let sig = Signature::new(name, "1.0.0", Returns::Is(Type::Timestamp), doc).param(Param::required(
            "x",
            ParamType::OneOf(vec![Type::Clip, Type::Frames, Type::Detections, Type::Tracks, Type::TimedText, Type::Masks]),
            "The timed value.",
        ));
        TimeBound { bound, sig }
    }
}

#[async_trait]
impl Module for TimeBound {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let name = self.sig.name;
        let x = arg(&args, "x")?;
        let span = x.time_span().ok_or_else(|| {
            if x.type_of().is_timed() {
                ModuleError::invalid("x", format!("{name}: `x` ({}) is empty, so it has no {name}", x.summary()))
            } else {
                unsupported(name, "x", "a timed value", x)
            }
        })?;
        Ok(Value::Timestamp(match self.bound {
            Bound::Start => span.start,
            Bound::End => span.end,
        }))
    }
}
