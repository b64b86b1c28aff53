//! Video modules on the system FFmpeg: opening and probing files
//! ([`open_video`]), sampling frames ([`sample_clip`], module `sample`),
//! shot boundaries among sampled frames ([`shots`]) and
//! cutting clips (modules `trim`, `trim_before`, `trim_after`, `trim_around`,
//! `split`).
//!
//! Times are seconds from the start of the main video stream (its first
//! presentation timestamp is 0). All decoding runs on the blocking pool via
//! [`StepContext::blocking`].
//!
//! FFmpeg's own log output is silenced; set `VPROG_FFMPEG_LOG=warning` (or
//! `error`, `info`, `debug`) to see it.

mod decode;
mod probe;
mod scenes;
pub mod shots;
mod timeline;

use std::sync::Arc;

use async_trait::async_trait;
use vprog_runtime::module::{Constraint, Returns};
use vprog_runtime::value::{clock, TimeRange, VideoRef};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, ParamType, Registry, Signature, StepContext, Type, Value};

pub use decode::{output_size, sample_clip, SampleMode, SampleStats, Sampled};
pub use probe::{find_sidecar, open_video, SIDECAR_EXTENSIONS};
pub(crate) use probe::{media_error, open_input, rate, video_stream_index};

use timeline::{intersect, windows, MAX_FRAMES};

/// Largest `size` accepted by `sample`, in pixels.
pub const MAX_SIZE: u32 = 8192;

/// Registers `sample`, `shots`, `trim`, `trim_before`, `trim_after`, `trim_around`
/// and `split`. A name already taken is logged and skipped.
pub fn register(registry: &mut Registry) {
    let modules: [Arc<dyn Module>; 7] = [
        Arc::new(Sample::new()),
        Arc::new(shots::Shots::new()),
        Arc::new(Trim::new()),
        Arc::new(TrimBefore::new()),
        Arc::new(TrimAfter::new()),
        Arc::new(TrimAround::new()),
        Arc::new(Split::new()),
    ];
    for module in modules {
        let name = module.signature().name;
        if let Err(e) = registry.register(module) {
            tracing::error!(module = name, "{e}; skipping the video module");
        }
    }
}

const SAMPLE_DOC: &str = "Decoded frames of a clip, picked by rate, count, timestamps or scene changes.

Pick frames one way (the default is `count: 8`):
- `fps`: frames at start, start + 1/fps, ... within each segment of the clip.
- `count`: that many frames spread evenly over the clip's covered time (the midpoints of equal slices).
- `at`: the frames nearest the listed timestamps; each must lie inside the clip.
- `scenes`: the first frame of each segment plus the first frame after each cut, a cut being a change of the luma histogram above the threshold (0 to 1; 0.3 is a good start). This mode decodes every frame of the clip, so it is slow on long clips; the others seek and decode only near the requested times.
Each frame is the decoded frame nearest the requested time: its `time` is its real presentation time, within one frame interval of the request. Frames that several requests map to are returned once, in time order. `size` > 0 scales frames so the longest side is `size` pixels, keeping the aspect ratio; 0 keeps the coded size (no pixel-aspect correction). A requested time more than 2 s from any decodable frame (a damaged or truncated stretch of the file) is an error naming the file and the time. At most 10000 frames and 4 GiB of pixels per call.";

/// Module `sample`: frames of a clip by rate, count, timestamps or scene
/// changes (see [`sample_clip`]).
pub struct Sample {
    sig: Signature,
}

impl Default for Sample {
    fn default() -> Self {
        Sample::new()
    }
}

impl Sample {
    /// The module with its signature.
    pub fn new() -> Sample {
        let sig = Signature::new("sample", "1.0.0", Returns::Is(Type::Frames), SAMPLE_DOC)
            .param(Param::of("clip", Type::Clip, "The clip (or whole video) to take frames from."))
            .param(Param::of("fps", Type::Number, "Frames per second of clip time.").optional().range(0.001, 120.0).searchable(0.1, 4.0))
            .param(
                Param::of("count", Type::Int, "Number of frames spread evenly over the clip.")
                    .optional()
                    .range(1.0, MAX_FRAMES as f64)
                    .searchable(4.0, 64.0),
            )
            .param(Param::of("at", Type::list(Type::Timestamp), "Timestamps to take the nearest frames at.").optional())
            .param(
                Param::of("scenes", Type::Number, "Scene-cut threshold (luma-histogram change, 0 to 1): first frame of each shot.")
                    .optional()
                    .range(0.0, 1.0)
                    .searchable(0.1, 0.6),
            )
            .param(
                Param::of("size", Type::Int, "Longest side of returned frames in pixels; 0 keeps the native size.")
                    .default(Value::Int(0))
                    .range(0.0, f64::from(MAX_SIZE)),
            )
            .constraint(Constraint::AtMostOneOf(&["fps", "count", "at", "scenes"]))
            .cache(CachePolicy::Disk);
        Sample { sig }
    }
}

/// A whole number from an `Int` (or an integral `Number`).
fn whole(args: &Args, name: &str) -> Result<i64, ModuleError> {
    match args.get(name) {
        Some(Value::Int(v)) => Ok(*v),
        Some(Value::Number(v)) if v.fract() == 0.0 && v.abs() < 9e15 => Ok(*v as i64),
        Some(other) => Err(ModuleError::invalid(name, format!("expected a whole number, got {}", other.summary()))),
        None => Err(ModuleError::invalid(name, "missing")),
    }
}

/// Reads the sampling mode from `sample`'s arguments.
fn sample_mode(args: &Args) -> Result<SampleMode, ModuleError> {
    let given: Vec<&str> = ["fps", "count", "at", "scenes"].into_iter().filter(|n| args.get(n).is_some()).collect();
    if given.len() > 1 {
        return Err(ModuleError::invalid(given[1], format!("give at most one of fps, count, at and scenes (got {})", given.join(" and "))));
    }
    Ok(match given.first().copied() {
        Some("fps") => SampleMode::Fps(args.number("fps")?),
        Some("count") => {
            let n = whole(args, "count")?;
            if !(1..=MAX_FRAMES as i64).contains(&n) {
                return Err(ModuleError::invalid("count", format!("must be between 1 and {MAX_FRAMES}, got {n}")));
            }
            SampleMode::Count(n as usize)
        }
        Some("at") => {
            let items = args.list("at")?;
            let times = items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Timestamp(t) | Value::Duration(t) | Value::Number(t) => Ok(*t),
                    Value::Int(t) => Ok(*t as f64),
                    other => Err(ModuleError::invalid("at", format!("item {i} is a {}, not a timestamp", other.type_of()))),
                })
                .collect::<Result<Vec<f64>, _>>()?;
            SampleMode::At(times)
        }
        Some(_) => SampleMode::Scenes(args.number("scenes")?),
        None => SampleMode::Count(8),
    })
}

#[async_trait]
impl Module for Sample {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("clip")?;
        let mode = sample_mode(&args)?;
        let size = if args.get("size").is_some() { whole(&args, "size")? } else { 0 };
        if !(0..=i64::from(MAX_SIZE)).contains(&size) {
            return Err(ModuleError::invalid("size", format!("must be between 0 and {MAX_SIZE} pixels, got {size}")));
        }
        let (progress, stop) = (ctx.progress.clone(), ctx.stop_signal());
        let sampled = ctx.blocking(move || sample_clip(&clip, &mode, size as u32, &progress, &stop)).await?;
        Ok(Value::Frames(Arc::new(sampled.frames)))
    }
}

/// A non-negative, finite time argument.
fn time_arg(args: &Args, name: &str) -> Result<f64, ModuleError> {
    let t = args.seconds(name)?;
    if !t.is_finite() || t < 0.0 {
        return Err(ModuleError::invalid(name, format!("must be a time at or after 00:00.0, got {t} s")));
    }
    Ok(t)
}

fn clip_value(clip: vprog_runtime::value::Clip) -> Value {
    Value::Clip(Arc::new(clip))
}

/// Module `trim`: the part of a clip between two timestamps.
pub struct Trim {
    sig: Signature,
}

impl Default for Trim {
    fn default() -> Self {
        Trim::new()
    }
}

impl Trim {
    /// The module with its signature.
    pub fn new() -> Trim {
        let sig = Signature::new(
            "trim",
            "1.0.0",
            Returns::Is(Type::Clip),
            "The part of a clip between two timestamps.

Keeps the clip's time from `start` to `end` (a multi-segment clip keeps each segment's part in that range). `end` past the end of the video is clamped; `start` after `end`, or after the end of the video, is an error. The result may be empty if the clip has no time in the range.",
        )
        .param(Param::of("video", Type::Clip, "The clip (or whole video) to cut."))
        .param(Param::of("start", Type::Timestamp, "Start of the kept range."))
        .param(Param::of("end", Type::Timestamp, "End of the kept range."))
        .cache(CachePolicy::Memory);
        Trim { sig }
    }
}

#[async_trait]
impl Module for Trim {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("video")?;
        let start = time_arg(&args, "start")?;
        let end = time_arg(&args, "end")?;
        if start > end {
            return Err(ModuleError::invalid("end", format!("end {} is before start {}", clock(end), clock(start))));
        }
        let duration = clip.video.info.duration;
        if start > duration {
            return Err(ModuleError::invalid(
                "start",
                format!("start {} is after the end of the video ({})", clock(start), clock(duration)),
            ));
        }
        Ok(clip_value(intersect(&clip, [TimeRange { start, end }])))
    }
}

/// Module `trim_before`: the part of a clip before a timestamp.
pub struct TrimBefore {
    sig: Signature,
}

impl Default for TrimBefore {
    fn default() -> Self {
        TrimBefore::new()
    }
}

impl TrimBefore {
    /// The module with its signature.
    pub fn new() -> TrimBefore {
        let sig = Signature::new(
            "trim_before",
            "1.0.0",
            Returns::Is(Type::Clip),
            "The part of a clip before a timestamp.

Keeps the clip's time from the start of the video up to `time` (a time past the end keeps everything).",
        )
        .param(Param::of("video", Type::Clip, "The clip (or whole video) to cut."))
        .param(Param::of("time", Type::Timestamp, "Keep what comes before this time."))
        .cache(CachePolicy::Memory);
        TrimBefore { sig }
    }
}

#[async_trait]
impl Module for TrimBefore {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("video")?;
        let time = time_arg(&args, "time")?;
        Ok(clip_value(intersect(&clip, [TimeRange { start: 0.0, end: time }])))
    }
}

/// Module `trim_after`: the part of a clip after a timestamp.
pub struct TrimAfter {
    sig: Signature,
}

impl Default for TrimAfter {
    fn default() -> Self {
        TrimAfter::new()
    }
}

impl TrimAfter {
    /// The module with its signature.
    pub fn new() -> TrimAfter {
        let sig = Signature::new(
            "trim_after",
            "1.0.0",
            Returns::Is(Type::Clip),
            "The part of a clip after a timestamp.

Keeps the clip's time from `time` to the end of the video; a time after the end of the video is an error.",
        )
        .param(Param::of("video", Type::Clip, "The clip (or whole video) to cut."))
        .param(Param::of("time", Type::Timestamp, "Keep what comes after this time."))
        .cache(CachePolicy::Memory);
        TrimAfter { sig }
    }
}

#[async_trait]
impl Module for TrimAfter {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("video")?;
        let time = time_arg(&args, "time")?;
        let duration = clip.video.info.duration;
        if time > duration {
            return Err(ModuleError::invalid("time", format!("{} is after the end of the video ({})", clock(time), clock(duration))));
        }
        Ok(clip_value(intersect(&clip, [TimeRange { start: time, end: duration }])))
    }
}

/// Module `trim_around`: the parts of a clip within `pad` of an anchor.
pub struct TrimAround {
    sig: Signature,
}

impl Default for TrimAround {
    fn default() -> Self {
        TrimAround::new()
    }
}

impl TrimAround {
    /// The module with its signature.
    pub fn new() -> TrimAround {
        let sig = Signature::new(
            "trim_around",
            "1.0.0",
            Returns::Is(Type::Clip),
            "The parts of a clip within `pad` of an anchor: a time, frames, detections, masks, tracks, subtitle cues or another clip.

Each anchor item gives a time span, widened by `pad` on both sides; the result is the union of those spans (overlaps merged) intersected with the clip, so it may have several segments. Spans: a Timestamp is an instant; a Frame or Frames their frame times; Detections the times of frames where something was found (frames with no boxes are ignored); Masks their frame times; Tracks each track's first to last point; TimedText each cue's start to end; a Clip its segments (it must come from the same video). No anchor items give an empty clip.",
        )
        .param(Param::of("video", Type::Clip, "The clip (or whole video) to cut."))
        .param(Param::required(
            "anchor",
            ParamType::OneOf(vec![
                Type::Timestamp,
                Type::Clip,
                Type::Frame,
                Type::Frames,
                Type::Detections,
                Type::Masks,
                Type::Tracks,
                Type::TimedText,
            ]),
            "What to keep the surroundings of.",
        ))
        .param(
            Param::of("pad", Type::Duration, "Time kept before and after each anchor span.")
                .default(Value::Duration(5.0))
                .range(0.0, 3600.0)
                .searchable(0.0, 30.0),
        )
        .cache(CachePolicy::Memory);
        TrimAround { sig }
    }
}

fn finite_time(t: f64) -> Result<f64, ModuleError> {
    if t.is_finite() {
        Ok(t)
    } else {
        Err(ModuleError::invalid("anchor", format!("contains a time that is not finite ({t})")))
    }
}

fn same_video(anchor: &VideoRef, video: &VideoRef) -> Result<(), ModuleError> {
    if anchor.hash != video.hash {
        return Err(ModuleError::invalid(
            "anchor",
            format!("the anchor clip is from another video ({}, not {})", anchor.path.display(), video.path.display()),
        ));
    }
    Ok(())
}

/// The time spans an anchor value stands for.
fn anchor_spans(anchor: &Value, video: &VideoRef) -> Result<Vec<TimeRange>, ModuleError> {
    let point = |t: f64| finite_time(t).map(|t| TimeRange { start: t, end: t });
    let span = |a: f64, b: f64| Ok(TimeRange { start: finite_time(a.min(b))?, end: finite_time(a.max(b))? });
    match anchor {
        Value::Timestamp(t) | Value::Duration(t) => Ok(vec![point(*t)?]),
        Value::Video(v) => {
            same_video(v, video)?;
            Ok(vec![TimeRange { start: 0.0, end: v.info.duration }])
        }
        Value::Clip(c) => {
            same_video(&c.video, video)?;
            Ok(c.segments.clone())
        }
        Value::Frame(f) => Ok(vec![point(f.time)?]),
        Value::Frames(fs) => fs.iter().map(|f| point(f.time)).collect(),
        Value::Detections(d) => d.frames.iter().filter(|f| !f.boxes.is_empty()).map(|f| point(f.time)).collect(),
        Value::Masks(m) => m.masks.iter().map(|k| point(k.time)).collect(),
        Value::Tracks(t) => t
            .tracks
            .iter()
            .filter(|tr| !tr.points.is_empty())
            .map(|tr| {
                let lo = tr.points.iter().map(|p| p.time).fold(f64::INFINITY, f64::min);
                let hi = tr.points.iter().map(|p| p.time).fold(f64::NEG_INFINITY, f64::max);
                span(lo, hi)
            })
            .collect(),
        Value::TimedText(tt) => tt.cues.iter().map(|c| span(c.start, c.end)).collect(),
        other => Err(ModuleError::invalid(
            "anchor",
            format!("expected a Timestamp, Clip, Frame, Frames, Detections, Masks, Tracks or TimedText, got {}", other.type_of()),
        )),
    }
}

#[async_trait]
impl Module for TrimAround {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("video")?;
        let anchor = args.get("anchor").ok_or_else(|| ModuleError::invalid("anchor", "missing"))?;
        let pad = args.seconds("pad")?;
        if !(pad.is_finite() && (0.0..=3600.0).contains(&pad)) {
            return Err(ModuleError::invalid("pad", format!("must be between 0 s and 3600 s, got {pad} s")));
        }
        let spans = anchor_spans(anchor, &clip.video)?;
        let padded = spans.into_iter().map(|s| TimeRange { start: s.start - pad, end: s.end + pad });
        Ok(clip_value(intersect(&clip, padded)))
    }
}

/// Module `split`: a clip cut into consecutive fixed-length windows.
pub struct Split {
    sig: Signature,
}

impl Default for Split {
    fn default() -> Self {
        Split::new()
    }
}

impl Split {
    /// The module with its signature.
    pub fn new() -> Split {
        let sig = Signature::new(
            "split",
            "1.0.0",
            Returns::Is(Type::list(Type::Clip)),
            "A clip cut into consecutive windows of fixed length, for per-window questions (\"for each minute, count people\").

Each segment of the clip is cut into windows of `every` seconds from its start; a segment's last window may be shorter, and no window spans two segments.",
        )
        .param(Param::of("video", Type::Clip, "The clip (or whole video) to cut."))
        .param(Param::of("every", Type::Duration, "Length of each window.").range(0.1, 86_400.0))
        .cache(CachePolicy::Memory);
        Split { sig }
    }
}

#[async_trait]
impl Module for Split {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("video")?;
        let every = args.seconds("every")?;
        let parts = windows(&clip, every)?;
        Ok(Value::List(Arc::new(parts.into_iter().map(clip_value).collect())))
    }
}
