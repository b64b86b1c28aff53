//! Counting, testing and picking from collections: `count`, `exists`,
//! `first`, `last`, `longest`, `concat`.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use vprog_runtime::value::{Clip, Detections, FrameDetections, TimeRange, TimedText, Track, Tracks};
use vprog_runtime::{Args, Module, ModuleError, Param, ParamType, Returns, Signature, StepContext, Type, Value};

use super::{arg, as_clip, covered_seconds, empty, track_span, unsupported};

/// Every collection module.
pub fn modules() -> Vec<Arc<dyn Module>> {
    vec![
        Arc::new(Count::new()),
        Arc::new(Exists::new()),
        Arc::new(Pick::new(End::First)),
        Arc::new(Pick::new(End::Last)),
        Arc::new(Longest::new()),
        Arc::new(Concat::new()),
    ]
}

/// The kinds `count` and `exists` accept.
fn countable() -> ParamType {
    ParamType::OneOf(vec![Type::Frames, Type::Detections, Type::Tracks, Type::TimedText, Type::Masks, Type::Clip, Type::list(Type::Any)])
}

/// How many items a collection holds, as `count` defines it.
pub fn count_items(module: &str, v: &Value) -> Result<usize, ModuleError> {
    Ok(match v {
        Value::Frames(fs) => fs.len(),
        Value::Frame(_) => 1,
        Value::Detections(d) => d.frames.iter().map(|f| f.boxes.len()).sum(),
        Value::Tracks(t) => t.tracks.iter().map(|t| t.id).collect::<BTreeSet<_>>().len(),
        Value::TimedText(t) => t.cues.len(),
        Value::Masks(m) => m.masks.len(),
        Value::Clip(c) => c.segments.len(),
        Value::Video(_) => 1,
        Value::List(items) => items.len(),
        other => return Err(unsupported(module, "items", "Frames, Detections, Tracks, TimedText, Masks, Clip or a list", other)),
    })
}

// ---------------------------------------------------------------------------
// count, exists
// ---------------------------------------------------------------------------

/// `count(items)`: how many items a collection holds.
pub struct Count {
    sig: Signature,
}

impl Count {
    /// The module.
    pub fn new() -> Count {
        let sig = Signature::new(
            "count",
            "1.0.0",
            Returns::Is(Type::Int),
            "Counts the items in a collection: frames, boxes, distinct tracks, cues, masks, clip segments or list items.
Frames: the number of frames. Detections: the total number of boxes over all \
frames (not the number of frames). Tracks: the number of distinct objects \
(track ids). TimedText: the number of cues. Masks: the number of masks. Clip: \
the number of separate time segments. List: the number of elements.",
        )
        .param(Param::required("items", countable(), "The collection to count."));
        Count { sig }
    }
}

impl Default for Count {
    fn default() -> Self {
        Count::new()
    }
}

#[async_trait]
impl Module for Count {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let n = count_items("count", arg(&args, "items")?)?;
        Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
    }
}

/// `exists(items)`: whether a collection holds anything.
pub struct Exists {
    sig: Signature,
}

impl Exists {
    /// The module.
    pub fn new() -> Exists {
        let sig = Signature::new(
            "exists",
            "1.0.0",
            Returns::Is(Type::Bool),
            "True when a collection is non-empty: any frame, box, track, cue, mask, clip segment or list item.
The same as `count(items) > 0`; for Detections it is true only when at least \
one box was found (frames examined without boxes do not count).",
        )
        .param(Param::required("items", countable(), "The collection to test."));
        Exists { sig }
    }
}

impl Default for Exists {
    fn default() -> Self {
        Exists::new()
    }
}

#[async_trait]
impl Module for Exists {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        Ok(Value::Bool(count_items("exists", arg(&args, "items")?)? > 0))
    }
}

// ---------------------------------------------------------------------------
// first, last
// ---------------------------------------------------------------------------

/// Which end a [`Pick`] module takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `first`: the earliest item.
    First,
    /// `last`: the latest item.
    Last,
}

/// `first(items)` and `last(items)`: the earliest or latest element.
pub struct Pick {
    end: End,
    sig: Signature,
}

const FIRST_DOC: &str =
    "The earliest element of a collection: a frame, a cue, a frame's detections, a track, a clip segment or a list element.
Frames: the earliest frame. TimedText: the cue that starts first (one-cue \
TimedText). Detections: the earliest frame that has at least one box (its \
detections only; an error if no frame has a box). Tracks: the track that starts \
first. Clip: its first segment as a Clip. List: the first element in list order. \
Ties go to the earlier position. An empty collection is an error.";

const LAST_DOC: &str =
    "The latest element of a collection: a frame, a cue, a frame's detections, a track, a clip segment or a list element.
Frames: the latest frame. TimedText: the cue that ends last (one-cue \
TimedText). Detections: the latest frame that has at least one box (its \
detections only; an error if no frame has a box). Tracks: the track that ends \
last. Clip: its last segment as a Clip. List: the last element in list order. \
Ties go to the later position. An empty collection is an error.";

impl Pick {
    /// The module for `end`.
    pub fn new(end: End) -> Pick {
        let (name, doc) = match end {
            End::First => ("first", FIRST_DOC),
            End::Last => ("last", LAST_DOC),
        };
        let sig = Signature::new(name, "1.0.0", Returns::ElementOfT, doc).param(
            Param::required(
                "items",
                ParamType::OneOf(vec![Type::Frames, Type::TimedText, Type::Detections, Type::Tracks, Type::Clip, Type::list(Type::Any)]),
                "The collection to pick from.",
            )
            .generic(),
        );
        Pick { end, sig }
    }
}

/// The index of the earliest (by `(start, end)`, ties → lower index) or the
/// latest (by `(end, start)`, ties → higher index) of `spans`.
fn pick_index(spans: impl Iterator<Item = (usize, TimeRange)>, end: End) -> Option<usize> {
    let mut best: Option<(usize, TimeRange)> = None;
    for (i, r) in spans {
        let better = match &best {
            None => true,
            Some((_, b)) => match end {
                End::First => r.start.total_cmp(&b.start).then(r.end.total_cmp(&b.end)).is_lt(),
                End::Last => r.end.total_cmp(&b.end).then(r.start.total_cmp(&b.start)).is_ge(),
            },
        };
        if better {
            best = Some((i, r));
        }
    }
    best.map(|(i, _)| i)
}

fn instant(t: f64) -> TimeRange {
    TimeRange { start: t, end: t }
}

#[async_trait]
impl Module for Pick {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let name = self.sig.name;
        let end = self.end;
        let items = arg(&args, "items")?;
        match items {
            Value::Frame(f) => Ok(Value::Frame(f.clone())),
            Value::Frames(fs) => {
                let i = pick_index(fs.iter().map(|f| instant(f.time)).enumerate(), end).ok_or_else(|| empty(name, "items", "frames"))?;
                fs.get(i).cloned().map(Value::Frame).ok_or_else(|| empty(name, "items", "frames"))
            }
            Value::TimedText(t) => {
                let i = pick_index(t.cues.iter().map(|c| TimeRange { start: c.start, end: c.end }).enumerate(), end)
                    .ok_or_else(|| empty(name, "items", "cues"))?;
                let cue = t.cues.get(i).cloned().ok_or_else(|| empty(name, "items", "cues"))?;
                Ok(Value::TimedText(Arc::new(TimedText { cues: vec![cue] })))
            }
            Value::Detections(d) => {
                let with_boxes = d.frames.iter().enumerate().filter(|(_, f)| !f.boxes.is_empty()).map(|(i, f)| (i, instant(f.time)));
                let frame = pick_index(with_boxes, end).and_then(|i| d.frames.get(i)).cloned().ok_or_else(|| {
                    ModuleError::invalid(
                        "items",
                        format!("{name}: `items` has no detections ({} frames examined, none with a box)", d.frames.len()),
                    )
                })?;
                Ok(Value::Detections(Arc::new(Detections { frames: vec![frame] })))
            }
            Value::Tracks(t) => {
                let spans = t.tracks.iter().enumerate().filter_map(|(i, tr)| track_span(tr).map(|s| (i, s)));
                let track = pick_index(spans, end)
                    .and_then(|i| t.tracks.get(i))
                    .cloned()
                    .ok_or_else(|| empty(name, "items", "tracks with positions"))?;
                Ok(Value::Tracks(Arc::new(Tracks { tracks: vec![track] })))
            }
            Value::Clip(_) | Value::Video(_) => {
                let clip = as_clip(items).ok_or_else(|| empty(name, "items", "segments"))?;
                let i = pick_index(clip.segments.iter().copied().enumerate(), end).ok_or_else(|| empty(name, "items", "segments"))?;
                let seg = clip.segments.get(i).copied().ok_or_else(|| empty(name, "items", "segments"))?;
                Ok(Value::Clip(Arc::new(Clip { video: clip.video.clone(), segments: vec![seg] })))
            }
            Value::List(list) => {
                let v = match end {
                    End::First => list.first(),
                    End::Last => list.last(),
                };
                v.cloned().ok_or_else(|| empty(name, "items", "elements"))
            }
            other => Err(unsupported(name, "items", "Frames, TimedText, Detections, Tracks, Clip or a list", other)),
        }
    }
}

// ---------------------------------------------------------------------------
// longest
// ---------------------------------------------------------------------------

/// `longest(items)`: the element that lasts longest.
pub struct Longest {
    sig: Signature,
}

impl Longest {
    /// The module.
    pub fn new() -> Longest {
        let sig = Signature::new(
            "longest",
            "1.0.0",
            Returns::ElementOfT,
            "The element that lasts longest: the longest cue, track, clip segment or timed list element.
TimedText: the cue with the largest end - start (one-cue TimedText). Tracks: \
the track with the longest span from its first to its last position. Clip: \
its longest segment as a Clip. List: the element with the most covered time \
(as `duration` measures it), e.g. the longest clip of a List<Clip>; the \
elements must be timed values. Ties go to the earliest position. An empty \
collection is an error.",
        )
        .param(
            Param::required(
                "items",
                ParamType::OneOf(vec![Type::TimedText, Type::Tracks, Type::Clip, Type::list(Type::Any)]),
                "The collection to pick from.",
            )
            .generic(),
        );
        Longest { sig }
    }
}

impl Default for Longest {
    fn default() -> Self {
        Longest::new()
    }
}

/// Index of the largest length (ties → the lowest index).
fn argmax(lengths: impl Iterator<Item = (usize, f64)>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, len) in lengths {
        if best.is_none_or(|(_, b)| len.total_cmp(&b).is_gt()) {
            best = Some((i, len));
        }
    }
    best.map(|(i, _)| i)
}

#[async_trait]
impl Module for Longest {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let items = arg(&args, "items")?;
        match items {
            Value::TimedText(t) => {
                let cue = argmax(t.cues.iter().map(|c| (c.end - c.start).max(0.0)).enumerate())
                    .and_then(|i| t.cues.get(i))
                    .cloned()
                    .ok_or_else(|| empty("longest", "items", "cues"))?;
                Ok(Value::TimedText(Arc::new(TimedText { cues: vec![cue] })))
            }
            Value::Tracks(t) => {
                let lengths = t.tracks.iter().enumerate().filter_map(|(i, tr)| track_span(tr).map(|s| (i, s.len())));
                let track = argmax(lengths)
                    .and_then(|i| t.tracks.get(i))
                    .cloned()
                    .ok_or_else(|| empty("longest", "items", "tracks with positions"))?;
                Ok(Value::Tracks(Arc::new(Tracks { tracks: vec![track] })))
            }
            Value::Clip(_) | Value::Video(_) => {
                let clip = as_clip(items).ok_or_else(|| empty("longest", "items", "segments"))?;
                let seg = argmax(clip.segments.iter().map(TimeRange::len).enumerate())
                    .and_then(|i| clip.segments.get(i))
                    .copied()
                    .ok_or_else(|| empty("longest", "items", "segments"))?;
                Ok(Value::Clip(Arc::new(Clip { video: clip.video.clone(), segments: vec![seg] })))
            }
            Value::List(list) => {
                let mut lengths = Vec::with_capacity(list.len());
                for (i, v) in list.iter().enumerate() {
                    let len = covered_seconds(v).ok_or_else(|| {
                        ModuleError::invalid(
                            "items",
                            format!(
                                "longest: list elements must be timed (Clip, TimedText, Tracks, Frames, ...), but element {i} is {}",
                                v.type_of()
                            ),
                        )
                    })?;
                    lengths.push((i, len));
                }
                argmax(lengths.into_iter()).and_then(|i| list.get(i)).cloned().ok_or_else(|| empty("longest", "items", "elements"))
            }
            other => Err(unsupported("longest", "items", "TimedText, Tracks, Clip or a list of timed values", other)),
        }
    }
}

// ---------------------------------------------------------------------------
// concat
// ---------------------------------------------------------------------------

/// `concat(items...)`: joins values of one kind.
pub struct Concat {
    sig: Signature,
}

impl Concat {
    /// The module.
    pub fn new() -> Concat {
        let sig = Signature::new(
            "concat",
            "1.0.0",
            Returns::T,
            "Joins one or more values of the same kind: cues, frames, detections, tracks, texts or lists.
TimedText and Frames are merged and kept in time order (a stable sort, so \
equal times keep argument order; duplicates are kept). Detections are merged \
in time order, and entries for the same frame (same time and size) are \
combined into one entry holding all their boxes. Tracks are merged in order of \
start time; a track whose id is already taken gets the next free id. Texts are \
joined with a newline. Lists are appended.",
        )
        .param(
            Param::required(
                "items",
                ParamType::OneOf(vec![Type::TimedText, Type::Frames, Type::Detections, Type::Tracks, Type::Text, Type::list(Type::Any)]),
                "The values to join, all of one kind.",
            )
            .generic()
            .variadic(),
        );
        Concat { sig }
    }
}

impl Default for Concat {
    fn default() -> Self {
        Concat::new()
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::TimedText(_) => "TimedText",
        Value::Frames(_) | Value::Frame(_) => "Frames",
        Value::Detections(_) => "Detections",
        Value::Tracks(_) => "Tracks",
        Value::Text(_) => "Text",
        Value::List(_) => "List",
        _ => "other",
    }
}

fn mismatch(i: usize, first: &Value, v: &Value) -> ModuleError {
    ModuleError::invalid(
        "items",
        format!("concat: all values must be of one kind, but value 1 is {} and value {} is {}", first.type_of(), i + 1, v.type_of()),
    )
}

/// Joins `values` as the `concat` module does.
pub fn concat_values(values: &[Value]) -> Result<Value, ModuleError> {
    let first = values.first().ok_or_else(|| ModuleError::invalid("items", "concat: needs at least one value"))?;
    let kind = kind_name(first);
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| kind_name(v) != kind) {
        return Err(mismatch(i, first, v));
    }
    match first {
        Value::TimedText(_) => {
            let mut cues = Vec::new();
            for v in values {
                if let Value::TimedText(t) = v {
                    cues.extend(t.cues.iter().cloned());
                }
            }
            cues.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.end.total_cmp(&b.end)));
            Ok(Value::TimedText(Arc::new(TimedText { cues })))
        }
        Value::Frames(_) | Value::Frame(_) => {
            let mut frames = Vec::new();
            for v in values {
                match v {
                    Value::Frames(fs) => frames.extend(fs.iter().cloned()),
                    Value::Frame(f) => frames.push(f.clone()),
                    _ => {}
                }
            }
            frames.sort_by(|a, b| a.time.total_cmp(&b.time));
            Ok(Value::Frames(Arc::new(frames)))
        }
        Value::Detections(_) => {
            let mut all: Vec<FrameDetections> = Vec::new();
            for v in values {
                if let Value::Detections(d) = v {
                    all.extend(d.frames.iter().cloned());
                }
            }
            all.sort_by(|a, b| a.time.total_cmp(&b.time));
            let mut merged: Vec<FrameDetections> = Vec::with_capacity(all.len());
            for f in all {
                match merged.last_mut() {
                    Some(last) if last.time == f.time && last.width == f.width && last.height == f.height => {
                        last.boxes.extend(f.boxes);
                    }
                    _ => merged.push(f),
                }
            }
            Ok(Value::Detections(Arc::new(Detections { frames: merged })))
        }
        Value::Tracks(_) => {
            let mut used: BTreeSet<u32> = BTreeSet::new();
            let mut tracks: Vec<Track> = Vec::new();
            for v in values {
                if let Value::Tracks(t) = v {
                    for tr in &t.tracks {
                        let mut tr = tr.clone();
                        if used.contains(&tr.id) {
                            tr.id = next_free_id(&used).ok_or_else(|| ModuleError::Failed("concat: ran out of track ids".into()))?;
                        }
                        used.insert(tr.id);
                        tracks.push(tr);
                    }
                }
            }
            tracks.sort_by(|a, b| {
                let sa = track_span(a).map_or(f64::INFINITY, |s| s.start);
                let sb = track_span(b).map_or(f64::INFINITY, |s| s.start);
                sa.total_cmp(&sb)
            });
            Ok(Value::Tracks(Arc::new(Tracks { tracks })))
        }
        Value::Text(_) => {
            let parts: Vec<&str> = values
                .iter()
                .filter_map(|v| match v {
                    Value::Text(s) => Some(&**s),
                    _ => None,
                })
                .collect();
            Ok(Value::text(parts.join("\n")))
        }
        Value::List(_) => {
            let mut out = Vec::new();
            for v in values {
                if let Value::List(items) = v {
                    out.extend(items.iter().cloned());
                }
            }
            Ok(Value::List(Arc::new(out)))
        }
        other => Err(unsupported("concat", "items", "TimedText, Frames, Detections, Tracks, Text or lists", other)),
    }
}

fn next_free_id(used: &BTreeSet<u32>) -> Option<u32> {
    let max = used.iter().next_back().copied().unwrap_or(0);
    match max.checked_add(1) {
        Some(id) => Some(id),
        None => (0..=u32::MAX).find(|id| !used.contains(id)),
    }
}

#[async_trait]
impl Module for Concat {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        if args.variadic().is_empty() {
            // Defensive: a caller that passed the values by name.
            if let Some(v) = args.get("items") {
                return concat_values(std::slice::from_ref(v));
            }
        }
        concat_values(args.variadic())
    }
}
