//! Runtime values: what steps consume and produce.
//!
//! Large payloads (pixels, cue lists) sit behind `Arc` so values are cheap to
//! clone between steps. Every value serialises (for the on-disk cache) and
//! renders as a short summary and as full JSON (for the trace).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::types::Type;

/// A runtime value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Value {
    /// An opened, probed video file.
    Video(Arc<VideoRef>),
    /// Time ranges of a video.
    Clip(Arc<Clip>),
    /// One frame.
    Frame(Frame),
    /// Frames in time order.
    Frames(Arc<Vec<Frame>>),
    /// Per-frame boxes.
    Detections(Arc<Detections>),
    /// Objects over time.
    Tracks(Arc<Tracks>),
    /// Per-frame masks.
    Masks(Arc<Masks>),
    /// Timed text.
    TimedText(Arc<TimedText>),
    /// A string.
    Text(Arc<str>),
    /// A whole number.
    Int(i64),
    /// A real number.
    Number(f64),
    /// A truth value.
    Bool(bool),
    /// Seconds.
    Duration(f64),
    /// Seconds from the start of the video.
    Timestamp(f64),
    /// A chosen option.
    Choice(Arc<Choice>),
    /// A list.
    List(Arc<Vec<Value>>),
}

/// A video file and what probing it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoRef {
    /// Where the file is.
    pub path: PathBuf,
    /// BLAKE3 of the file's bytes (hex): the video's identity in the cache.
    pub hash: String,
    /// Probe results.
    pub info: VideoInfo,
    /// Sidecar or user-given subtitle file, if any.
    pub subtitles: Option<PathBuf>,
}

/// What probing a video found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Container format name.
    pub format: String,
    /// Length in seconds.
    pub duration: f64,
    /// Average frame rate of the main video stream.
    pub fps: f64,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames in the main video stream, when the container says.
    pub frame_count: Option<u64>,
    /// Codec of the main video stream.
    pub video_codec: String,
    /// Every stream in the file.
    pub streams: Vec<StreamInfo>,
}

/// One stream of a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Stream index in the container.
    pub index: usize,
    /// `video`, `audio`, `subtitle`, `data` or `attachment`.
    pub kind: String,
    /// Codec name.
    pub codec: String,
    /// Language tag, if any.
    pub language: Option<String>,
}

/// A half-open time range in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

impl TimeRange {
    /// Length in seconds (never negative).
    pub fn len(&self) -> f64 {
        (self.end - self.start).max(0.0)
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len() <= 0.0
    }

    /// Whether the two ranges share time (touching counts for instants).
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

/// One or more disjoint, sorted time ranges of a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    /// The video the ranges belong to.
    pub video: Arc<VideoRef>,
    /// Sorted, non-overlapping ranges.
    pub segments: Vec<TimeRange>,
}

impl Clip {
    /// The whole video.
    pub fn whole(video: Arc<VideoRef>) -> Clip {
        let end = video.info.duration;
        Clip { video, segments: vec![TimeRange { start: 0.0, end }] }
    }

    /// A clip of `ranges`, clamped to the video, sorted and merged.
    pub fn new(video: Arc<VideoRef>, ranges: impl IntoIterator<Item = TimeRange>) -> Clip {
        // A damaged probe can report a NaN or negative length: treat it as 0.
        let duration = if video.info.duration.is_finite() { video.info.duration.max(0.0) } else { 0.0 };
        let clamp = |t: f64| if t.is_nan() { 0.0 } else { t.max(0.0).min(duration) };
        let mut ranges: Vec<TimeRange> =
            ranges.into_iter().map(|r| TimeRange { start: clamp(r.start), end: clamp(r.end) }).filter(|r| r.end >= r.start).collect();
        ranges.sort_by(|a, b| a.start.total_cmp(&b.start));
        let mut merged: Vec<TimeRange> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        Clip { video, segments: merged }
    }

    /// Total covered seconds.
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(TimeRange::len).sum()
    }
}

/// One decoded RGB frame.
#[derive(Clone, Serialize, Deserialize)]
pub struct Frame {
    /// Presentation time in seconds.
    pub time: f64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB24 pixels, row-major, `width * height * 3` bytes.
    #[serde(with = "arc_bytes")]
    pub rgb: Arc<[u8]>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({:.3}s, {}x{})", self.time, self.width, self.height)
    }
}

mod arc_bytes {
    use std::sync::Arc;

    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    /// Copies the bytes once, straight from the decoder's buffer into the `Arc`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Arc<[u8]>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("pixel bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(Arc::from(v))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(Arc::from(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(Arc::from(v))
            }
        }
        d.deserialize_bytes(Visitor)
    }
}

/// An axis-aligned box in pixel coordinates of its frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
    /// What was found.
    pub label: String,
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
}

impl BBox {
    /// Intersection over union with `other`.
    pub fn iou(&self, other: &BBox) -> f32 {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.w).min(other.x + other.w);
        let y1 = (self.y + self.h).min(other.y + other.h);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let union = self.w * self.h + other.w * other.h - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// Boxes found in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameDetections {
    /// The frame's time in seconds.
    pub time: f64,
    /// The frame's size (boxes are in its pixel coordinates).
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// What was found.
    pub boxes: Vec<BBox>,
}

/// Detections over frames, in time order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Detections {
    /// One entry per frame examined (frames with no boxes included).
    pub frames: Vec<FrameDetections>,
}

/// One object's position at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    /// Seconds.
    pub time: f64,
    /// Where it was.
    pub bbox: BBox,
}

/// One object followed over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Identity, unique within its `Tracks`.
    pub id: u32,
    /// What the object is.
    pub label: String,
    /// Positions in time order.
    pub points: Vec<TrackPoint>,
}

/// Tracked objects.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Tracks {
    /// One entry per distinct object.
    pub tracks: Vec<Track>,
}

/// A binary mask, run-length encoded row-major (runs alternate 0 and 1, starting with 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mask {
    /// Seconds.
    pub time: f64,
    /// Mask width.
    pub width: u32,
    /// Mask height.
    pub height: u32,
    /// What the mask covers.
    pub label: String,
    /// Confidence.
    pub score: f32,
    /// Run lengths.
    pub runs: Vec<u32>,
}

impl Mask {
    /// Run-length encodes `bits` (row-major, `width × height` of them).
    ///
    /// Runs alternate unset and set, starting with an unset run (possibly 0
    /// long); the run lengths sum to `width × height`.
    pub fn encode(time: f64, width: u32, height: u32, label: impl Into<String>, score: f32, bits: &[bool]) -> Mask {
        let mut runs = Vec::new();
        let mut current = false;
        let mut len = 0u32;
        for &b in bits {
            if b != current {
                runs.push(len);
                current = b;
                len = 0;
            }
            len += 1;
        }
        runs.push(len);
        Mask { time, width, height, label: label.into(), score, runs }
    }

    /// Whether the runs cover exactly `width × height` pixels.
    pub fn is_well_formed(&self) -> bool {
        self.runs.iter().map(|&r| u64::from(r)).sum::<u64>() == u64::from(self.width) * u64::from(self.height)
    }

    /// The set pixels, or `None` when the runs do not cover exactly `width × height` pixels.
    pub fn decode(&self) -> Option<Vec<bool>> {
        if !self.is_well_formed() {
            return None;
        }
        let total = u64::from(self.width) * u64::from(self.height);
        let mut bits = Vec::with_capacity(usize::try_from(total).ok()?);
        for (i, &r) in self.runs.iter().enumerate() {
            bits.extend(std::iter::repeat_n(i % 2 == 1, r as usize));
        }
        Some(bits)
    }

    /// How many pixels are set.
    pub fn area(&self) -> u64 {
        self.runs.iter().skip(1).step_by(2).map(|&r| u64::from(r)).sum()
    }

    /// The set share of the mask, 0–1.
    pub fn coverage(&self) -> f64 {
        let total = u64::from(self.width) * u64::from(self.height);
        if total == 0 {
            0.0
        } else {
            self.area() as f64 / total as f64
        }
    }
}

/// Masks over frames.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Masks {
    /// Masks in time order.
    pub masks: Vec<Mask>,
}

/// One piece of timed text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// The text.
    pub text: String,
    /// Relevance or recognition score, when the producer has one.
    pub score: Option<f64>,
    /// Where on screen, for OCR.
    pub bbox: Option<BBox>,
    /// Where it came from: `subtitles:srt`, `subtitles:stream#2`, `ocr`, ...
    pub source: String,
}

/// Timed text in time order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TimedText {
    /// The cues.
    pub cues: Vec<Cue>,
}

/// The option a chooser picked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Index into the options.
    pub index: usize,
    /// The option's text.
    pub option: String,
    /// Normalised confidence in `[0, 1]`.
    pub confidence: f64,
    /// One score per option.
    pub scores: Vec<f64>,
    /// How it was chosen (module name and method).
    pub method: String,
}

impl Value {
    /// A text value.
    pub fn text(s: impl AsRef<str>) -> Value {
        Value::Text(Arc::from(s.as_ref()))
    }

    /// The value's type. Lists report the join of their element types.
    pub fn type_of(&self) -> Type {
        match self {
            Value::Video(_) => Type::Video,
            Value::Clip(_) => Type::Clip,
            Value::Frame(_) => Type::Frame,
            Value::Frames(_) => Type::Frames,
            Value::Detections(_) => Type::Detections,
            Value::Tracks(_) => Type::Tracks,
            Value::Masks(_) => Type::Masks,
            Value::TimedText(_) => Type::TimedText,
            Value::Text(_) => Type::Text,
            Value::Int(_) => Type::Int,
            Value::Number(_) => Type::Number,
            Value::Bool(_) => Type::Bool,
            Value::Duration(_) => Type::Duration,
            Value::Timestamp(_) => Type::Timestamp,
            Value::Choice(_) => Type::Choice,
            Value::List(items) => {
                let mut it = items.iter().map(Value::type_of);
                let first = it.next().unwrap_or(Type::Any);
                Type::list(it.fold(first, |acc, t| Type::join(&acc, &t)))
            }
        }
    }

    /// Whether the value is acceptable where `ty` is expected.
    pub fn conforms_to(&self, ty: &Type) -> bool {
        match (self, ty) {
            (_, Type::Any) => true,
            (Value::List(items), Type::List(inner)) => items.iter().all(|v| v.conforms_to(inner)),
            _ => self.type_of().is_assignable_to(ty),
        }
    }

    /// The time range the value covers, for timed values.
    pub fn time_span(&self) -> Option<TimeRange> {
        let span = |a: f64, b: f64| Some(TimeRange { start: a, end: b });
        match self {
            Value::Video(v) => span(0.0, v.info.duration),
            Value::Clip(c) => span(c.segments.first()?.start, c.segments.last()?.end),
            Value::Frame(f) => span(f.time, f.time),
            Value::Frames(fs) => span(fs.first()?.time, fs.last()?.time),
            Value::Detections(d) => span(d.frames.first()?.time, d.frames.last()?.time),
            Value::Tracks(t) => {
                let times = t.tracks.iter().flat_map(|t| t.points.iter().map(|p| p.time));
                let (lo, hi) = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| (lo.min(t), hi.max(t)));
                (lo <= hi).then_some(TimeRange { start: lo, end: hi })
            }
            Value::Masks(m) => span(m.masks.first()?.time, m.masks.last()?.time),
            Value::TimedText(t) => {
                let lo = t.cues.iter().map(|c| c.start).fold(f64::INFINITY, f64::min);
                let hi = t.cues.iter().map(|c| c.end).fold(f64::NEG_INFINITY, f64::max);
                (lo <= hi).then_some(TimeRange { start: lo, end: hi })
            }
            Value::Timestamp(t) => span(*t, *t),
            _ => None,
        }
    }

    /// A rough size in bytes (for the memory cache's budget).
    pub fn approx_bytes(&self) -> usize {
        match self {
            Value::Frame(f) => f.rgb.len() + 64,
            Value::Frames(fs) => fs.iter().map(|f| f.rgb.len() + 64).sum::<usize>() + 64,
            Value::TimedText(t) => t.cues.iter().map(|c| c.text.len() + 96).sum::<usize>() + 64,
            Value::Detections(d) => d.frames.iter().map(|f| f.boxes.len() * 64 + 48).sum::<usize>() + 64,
            Value::Tracks(t) => t.tracks.iter().map(|t| t.points.len() * 72 + 48).sum::<usize>() + 64,
            Value::Masks(m) => m.masks.iter().map(|m| m.runs.len() * 4 + 64).sum::<usize>() + 64,
            Value::Text(s) => s.len() + 32,
            Value::List(items) => items.iter().map(Value::approx_bytes).sum::<usize>() + 64,
            _ => 64,
        }
    }

    /// A one-line human summary for tables and the report.
    pub fn summary(&self) -> String {
        match self {
            Value::Video(v) => format!(
                "video {} ({}, {:.1}s, {}x{} @ {:.2} fps)",
                v.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                v.info.video_codec,
                v.info.duration,
                v.info.width,
                v.info.height,
                v.info.fps
            ),
            Value::Clip(c) => {
                let ranges: Vec<String> = c.segments.iter().take(4).map(|r| format!("{}–{}", clock(r.start), clock(r.end))).collect();
                let more = if c.segments.len() > 4 { format!(" +{} more", c.segments.len() - 4) } else { String::new() };
                format!("clip {}{more} ({:.1}s)", ranges.join(", "), c.duration())
            }
            Value::Frame(f) => format!("frame at {} ({}x{})", clock(f.time), f.width, f.height),
            Value::Frames(fs) => match (fs.first(), fs.last()) {
                (Some(a), Some(b)) => format!("{} frames {}–{} ({}x{})", fs.len(), clock(a.time), clock(b.time), a.width, a.height),
                _ => "0 frames".into(),
            },
            Value::Detections(d) => {
                let boxes: usize = d.frames.iter().map(|f| f.boxes.len()).sum();
                let with = d.frames.iter().filter(|f| !f.boxes.is_empty()).count();
                format!("{boxes} boxes in {with} of {} frames", d.frames.len())
            }
            Value::Tracks(t) => format!("{} tracks", t.tracks.len()),
            Value::Masks(m) => format!("{} masks", m.masks.len()),
            Value::TimedText(t) => {
                let mut s = format!("{} cues", t.cues.len());
                if let Some(c) = t.cues.first() {
                    let _ = write!(s, ": {} {}", clock(c.start), truncate(&c.text, 60));
                }
                s
            }
            Value::Text(s) => format!("\"{}\"", truncate(s, 80)),
            Value::Int(v) => v.to_string(),
            Value::Number(v) => format!("{v:.4}"),
            Value::Bool(b) => b.to_string(),
            Value::Duration(d) => format!("{d:.3}s"),
            Value::Timestamp(t) => clock(*t),
            Value::Choice(c) => format!("option {} \"{}\" (confidence {:.3})", c.index, truncate(&c.option, 60), c.confidence),
            Value::List(items) => {
                let shown: Vec<String> = items.iter().take(5).map(Value::summary).collect();
                let more = if items.len() > 5 { format!(", … {} more", items.len() - 5) } else { String::new() };
                format!("[{}{more}]", shown.join(", "))
            }
        }
    }

    /// The full value as JSON, pixels excluded (frames are described by time and size).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Video(v) => json!({"type": "Video", "path": v.path, "hash": v.hash, "info": v.info, "subtitles": v.subtitles}),
            Value::Clip(c) => json!({"type": "Clip", "video": c.video.path, "segments": c.segments}),
            Value::Frame(f) => json!({"type": "Frame", "time": f.time, "width": f.width, "height": f.height}),
            Value::Frames(fs) => json!({
                "type": "Frames",
                "frames": fs.iter().map(|f| json!({"time": f.time, "width": f.width, "height": f.height})).collect::<Vec<_>>()
            }),
            Value::Detections(d) => json!({"type": "Detections", "frames": d.frames}),
            Value::Tracks(t) => json!({"type": "Tracks", "tracks": t.tracks}),
            Value::Masks(m) => json!({"type": "Masks", "masks": m.masks}),
            Value::TimedText(t) => json!({"type": "TimedText", "cues": t.cues}),
            Value::Text(s) => json!({"type": "Text", "value": s}),
            Value::Int(v) => json!({"type": "Int", "value": v}),
            Value::Number(v) => json!({"type": "Number", "value": v}),
            Value::Bool(v) => json!({"type": "Bool", "value": v}),
            Value::Duration(v) => json!({"type": "Duration", "seconds": v}),
            Value::Timestamp(v) => json!({"type": "Timestamp", "seconds": v, "clock": clock(*v)}),
            Value::Choice(c) => {
                json!({"type": "Choice", "index": c.index, "option": c.option, "confidence": c.confidence, "scores": c.scores, "method": c.method})
            }
            Value::List(items) => {
                json!({"type": self.type_of().to_string(), "items": items.iter().map(Value::to_json).collect::<Vec<_>>()})
            }
        }
    }

    /// A stable content hash for values that enter a plan from outside
    /// (inputs and constants). Videos hash to their file hash.
    pub fn content_hash(&self) -> blake3::Hash {
        match self {
            Value::Video(v) => blake3::hash(format!("video:{}", v.hash).as_bytes()),
            other => {
                let mut h = blake3::Hasher::new();
                match bincode::serde::encode_to_vec(other, bincode::config::standard()) {
                    Ok(bytes) => h.update(&bytes),
                    // Encoding in-memory values cannot fail; fall back to the JSON form.
                    Err(_) => h.update(other.to_json().to_string().as_bytes()),
                };
                h.finalize()
            }
        }
    }
}

/// `MM:SS.s` (or `H:MM:SS.s`) for a time in seconds.
pub fn clock(seconds: f64) -> String {
    // Round to the shown precision first so 59.96 s reads 01:00.0, not 00:60.0.
    let s = if seconds.is_finite() { (seconds.max(0.0) * 10.0).round() / 10.0 } else { 0.0 };
    let h = (s / 3600.0).floor();
    let m = ((s - h * 3600.0) / 60.0).floor();
    let sec = s - h * 3600.0 - m * 60.0;
    if h > 0.0 {
        format!("{h:.0}:{m:02.0}:{sec:04.1}")
    } else {
        format!("{m:02.0}:{sec:04.1}")
    }
}

fn truncate(s: &str, max: usize) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(duration: f64) -> Arc<VideoRef> {
        Arc::new(VideoRef {
            path: "v.mp4".into(),
            hash: "abc".into(),
            info: VideoInfo {
                format: "mp4".into(),
                duration,
                fps: 25.0,
                width: 64,
                height: 48,
                frame_count: None,
                video_codec: "h264".into(),
                streams: vec![],
            },
            subtitles: None,
        })
    }

    #[test]
    fn masks_round_trip_through_runs() {
        let bits = [true, true, false, false, false, true, false, true, true, true, true, false];
        let m = Mask::encode(1.5, 4, 3, "person", 0.9, &bits);
        assert_eq!(m.runs, vec![0, 2, 3, 1, 1, 4, 1]);
        assert_eq!(m.decode().as_deref(), Some(&bits[..]));
        assert_eq!(m.area(), 7);
        assert!((m.coverage() - 7.0 / 12.0).abs() < 1e-12);
        let empty = Mask::encode(0.0, 2, 2, "person", 0.0, &[false; 4]);
        assert_eq!((empty.runs.clone(), empty.area()), (vec![4], 0));
        // Runs that do not cover the mask are refused, not read past.
        let bad = Mask { runs: vec![1, 2], ..m };
        assert!(!bad.is_well_formed());
        assert_eq!(bad.decode(), None);
    }

    #[test]
    fn clips_merge_and_clamp() {
        let c = Clip::new(
            video(60.0),
            [TimeRange { start: 50.0, end: 70.0 }, TimeRange { start: -3.0, end: 5.0 }, TimeRange { start: 4.0, end: 10.0 }],
        );
        assert_eq!(c.segments, vec![TimeRange { start: 0.0, end: 10.0 }, TimeRange { start: 50.0, end: 60.0 }]);
        assert_eq!(c.duration(), 20.0);
    }

    #[test]
    fn clips_survive_a_broken_probe() {
        let c = Clip::new(video(f64::NAN), [TimeRange { start: 1.0, end: 2.0 }]);
        assert_eq!(c.duration(), 0.0);
        let c = Clip::new(video(-5.0), [TimeRange { start: f64::NAN, end: 2.0 }]);
        assert_eq!(c.segments.len(), 1);
    }

    #[test]
    fn clock_format() {
        assert_eq!(clock(62.5), "01:02.5");
        assert_eq!(clock(3723.0), "1:02:03.0");
        assert_eq!(clock(59.96), "01:00.0");
        assert_eq!(clock(f64::NAN), "00:00.0");
    }

    #[test]
    fn list_types_and_conformance() {
        let l = Value::List(Arc::new(vec![Value::Int(1), Value::Number(2.0)]));
        assert_eq!(l.type_of(), Type::list(Type::Number));
        assert!(l.conforms_to(&Type::list(Type::Number)));
        assert!(!l.conforms_to(&Type::list(Type::Int)));
        assert!(Value::text("x").conforms_to(&Type::Text));
    }

    #[test]
    fn content_hash_distinguishes_values() {
        assert_ne!(Value::Int(1).content_hash(), Value::Int(2).content_hash());
        assert_eq!(Value::text("a").content_hash(), Value::text("a").content_hash());
    }
}
