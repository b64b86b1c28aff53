//! Text: `contains` (substring search in text or cues) and `describe` (a
//! readable rendering of any value, for a person or an LLM).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use vprog_runtime::value::{clock, Cue};
use vprog_runtime::{Args, Module, ModuleError, Param, ParamType, Returns, Signature, StepContext, Type, Value};

use super::{arg, track_span, unsupported};

/// Every text module.
pub fn modules() -> Vec<Arc<dyn Module>> {
    vec![Arc::new(Contains::new()), Arc::new(Describe::new())]
}

// ---------------------------------------------------------------------------
// contains
// ---------------------------------------------------------------------------

/// `contains(text, pattern, case_sensitive = false)`.
pub struct Contains {
    sig: Signature,
}

impl Contains {
    /// The module.
    pub fn new() -> Contains {
        let sig = Signature::new(
            "contains",
            "1.0.0",
            Returns::Is(Type::Bool),
            "True when the text (or any single cue of timed text) contains `pattern`.
A plain substring test, case-insensitive unless `case_sensitive` is true. Runs \
of whitespace (including line breaks inside a cue) count as one space on both \
sides, so a pattern matches across a cue's line wrap, but not across two cues. \
An empty pattern is an error.",
        )
        .param(Param::required("text", ParamType::OneOf(vec![Type::Text, Type::TimedText]), "Where to look."))
        .param(Param::of("pattern", Type::Text, "What to look for."))
        .param(Param::of("case_sensitive", Type::Bool, "Whether upper and lower case must match.").default(Value::Bool(false)));
        Contains { sig }
    }
}

impl Default for Contains {
    fn default() -> Self {
        Contains::new()
    }
}

/// Collapses whitespace runs to one space and trims; lowercases unless
/// `case_sensitive`.
fn normalise(s: &str, case_sensitive: bool) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if case_sensitive {
        joined
    } else {
        joined.to_lowercase()
    }
}

#[async_trait]
impl Module for Contains {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let case_sensitive = match args.get("case_sensitive") {
            None => false,
            Some(_) => args.bool("case_sensitive")?,
        };
        let pattern = normalise(&args.text("pattern")?, case_sensitive);
        if pattern.is_empty() {
            return Err(ModuleError::invalid("pattern", "contains: `pattern` is empty (or only whitespace)"));
        }
        let found = match arg(&args, "text")? {
            Value::Text(s) => normalise(s, case_sensitive).contains(&pattern),
            Value::TimedText(t) => t.cues.iter().any(|c| normalise(&c.text, case_sensitive).contains(&pattern)),
            other => return Err(unsupported("contains", "text", "Text or TimedText", other)),
        };
        Ok(Value::Bool(found))
    }
}

// ---------------------------------------------------------------------------
// describe
// ---------------------------------------------------------------------------

/// `describe(value)`: a readable multi-line summary.
pub struct Describe {
    sig: Signature,
}

impl Describe {
    /// The module.
    pub fn new() -> Describe {
        let sig = Signature::new(
            "describe",
            "1.0.0",
            Returns::Is(Type::Text),
            "Describes any value as readable text, e.g. to show evidence to a person or an LLM.
Cues are listed as `[MM:SS.s–MM:SS.s] text` (with their score when they have \
one), detections as box counts per label and per frame, tracks with their time \
spans, clips with their segments, choices with their confidence and scores, \
lists item by item. Long collections are cut after 500 entries with a note of \
how many were left out.",
        )
        .param(Param::of("value", Type::Any, "The value to describe."));
        Describe { sig }
    }
}

impl Default for Describe {
    fn default() -> Self {
        Describe::new()
    }
}

#[async_trait]
impl Module for Describe {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        Ok(Value::text(describe(arg(&args, "value")?)))
    }
}

/// Most entries listed per collection by [`describe`].
pub const MAX_ENTRIES: usize = 500;

/// `[MM:SS.s–MM:SS.s]`.
pub fn span_label(start: f64, end: f64) -> String {
    format!("[{}–{}]", clock(start), clock(end))
}

/// One cue as `describe` shows it: `[00:12.4–00:14.9] text (score 0.87)`.
pub fn cue_line(cue: &Cue) -> String {
    let mut s = format!("{} {}", span_label(cue.start, cue.end), one_line(&cue.text));
    if let Some(score) = cue.score {
        let _ = write!(s, " (score {score:.3})");
    }
    s
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A readable, multi-line description of `value` (what `describe` returns).
pub fn describe(value: &Value) -> String {
    let mut lines = Vec::new();
    describe_into(&mut lines, value, 0);
    lines.join("\n")
}

fn push_capped<I: ExactSizeIterator<Item = String>>(out: &mut Vec<String>, pad: &str, entries: I) {
    let total = entries.len();
    for line in entries.take(MAX_ENTRIES) {
        out.push(format!("{pad}{line}"));
    }
    if total > MAX_ENTRIES {
        out.push(format!("{pad}… and {} more", total - MAX_ENTRIES));
    }
}

fn label_counts<'a>(items: impl Iterator<Item = (&'a str, f32)>) -> String {
    let mut by_label: BTreeMap<&str, (usize, f32)> = BTreeMap::new();
    for (label, score) in items {
        let e = by_label.entry(label).or_insert((0, f32::NEG_INFINITY));
        e.0 += 1;
        e.1 = e.1.max(score);
    }
    by_label.iter().map(|(label, (n, best))| format!("{label} ×{n} (best score {best:.2})")).collect::<Vec<_>>().join(", ")
}

/// Per label: in how many frames it was seen, the most boxes of it in one
/// frame, and the time from its first to its last frame (most frames first).
fn label_summaries(frames: &[vprog_runtime::value::FrameDetections]) -> Vec<String> {
    // label → (frames seen, most in one frame, first time, last time)
    let mut by_label: BTreeMap<&str, (usize, usize, f64, f64)> = BTreeMap::new();
    for f in frames {
        let mut here: BTreeMap<&str, usize> = BTreeMap::new();
        for b in &f.boxes {
            *here.entry(b.label.as_str()).or_default() += 1;
        }
        for (label, n) in here {
            let e = by_label.entry(label).or_insert((0, 0, f.time, f.time));
            e.0 += 1;
            e.1 = e.1.max(n);
            e.2 = e.2.min(f.time);
            e.3 = e.3.max(f.time);
        }
    }
    let mut rows: Vec<_> = by_label.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    rows.into_iter()
        .take(MAX_ENTRIES)
        .map(|(label, (seen, most, first, last))| {
            format!(
                "{label}: in {} of {}, up to {most} in one frame, {}",
                seen,
                plural(frames.len(), "frame", "frames"),
                span_label(first, last)
            )
        })
        .collect()
}

fn describe_into(out: &mut Vec<String>, value: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    let inner = "  ".repeat(depth + 1);
    match value {
        Value::Video(v) => {
            let name = v.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| v.path.display().to_string());
            out.push(format!(
                "{pad}Video {name}: {:.1} s, {}x{} at {:.2} fps ({} in {})",
                v.info.duration, v.info.width, v.info.height, v.info.fps, v.info.video_codec, v.info.format
            ));
            for s in &v.info.streams {
                let lang = s.language.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
                out.push(format!("{inner}stream #{}: {} {}{lang}", s.index, s.kind, s.codec));
            }
            if let Some(subs) = &v.subtitles {
                out.push(format!("{inner}subtitles: {}", subs.display()));
            }
        }
        Value::Clip(c) => {
            let name = c.video.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push(format!("{pad}Clip of {name}: {}, {:.1} s in all", plural(c.segments.len(), "segment", "segments"), c.duration()));
            push_capped(out, &inner, c.segments.iter().map(|r| format!("{} {:.1} s", span_label(r.start, r.end), r.len())));
        }
        Value::Frame(f) => out.push(format!("{pad}Frame at {} ({}x{})", clock(f.time), f.width, f.height)),
        Value::Frames(fs) => match (fs.first(), fs.last()) {
            (Some(a), Some(b)) => {
                out.push(format!(
                    "{pad}{} from {} to {} ({}x{})",
                    plural(fs.len(), "frame", "frames"),
                    clock(a.time),
                    clock(b.time),
                    a.width,
                    a.height
                ));
                let times: Vec<String> = fs.iter().take(MAX_ENTRIES).map(|f| clock(f.time)).collect();
                let more = if fs.len() > MAX_ENTRIES { format!(", … and {} more", fs.len() - MAX_ENTRIES) } else { String::new() };
                out.push(format!("{inner}at {}{more}", times.join(", ")));
            }
            _ => out.push(format!("{pad}0 frames")),
        },
        Value::Detections(d) => {
            let boxes: usize = d.frames.iter().map(|f| f.boxes.len()).sum();
            let with = d.frames.iter().filter(|f| !f.boxes.is_empty()).count();
            let span = value.time_span().map(|s| format!(", {}", span_label(s.start, s.end))).unwrap_or_default();
            out.push(format!(
                "{pad}Detections: {} in {with} of {}{span}",
                plural(boxes, "box", "boxes"),
                plural(d.frames.len(), "frame", "frames"),
            ));
            if boxes > 0 {
                let all = d.frames.iter().flat_map(|f| f.boxes.iter().map(|b| (b.label.as_str(), b.score)));
                out.push(format!("{inner}by label: {}", label_counts(all)));
                for line in label_summaries(&d.frames) {
                    out.push(format!("{inner}{line}"));
                }
                let per_frame: Vec<String> = d
                    .frames
                    .iter()
                    .filter(|f| !f.boxes.is_empty())
                    .map(|f| {
                        let labels = label_counts(f.boxes.iter().map(|b| (b.label.as_str(), b.score)));
                        format!("[{}] {labels}", clock(f.time))
                    })
                    .collect();
                push_capped(out, &inner, per_frame.into_iter());
            }
        }
        Value::Tracks(t) => {
            out.push(format!("{pad}{}", plural(t.tracks.len(), "track", "tracks")));
            let mut tracks: Vec<_> = t.tracks.iter().map(|tr| (track_span(tr), tr)).collect();
            tracks.sort_by(|a, b| {
                let sa = a.0.map_or(f64::INFINITY, |s| s.start);
                let sb = b.0.map_or(f64::INFINITY, |s| s.start);
                sa.total_cmp(&sb)
            });
            push_capped(
                out,
                &inner,
                tracks.into_iter().map(|(span, tr)| match span {
                    Some(s) => format!(
                        "track #{} {}: {} ({:.1} s, {})",
                        tr.id,
                        tr.label,
                        span_label(s.start, s.end),
                        s.len(),
                        plural(tr.points.len(), "position", "positions")
                    ),
                    None => format!("track #{} {}: no positions", tr.id, tr.label),
                }),
            );
        }
        Value::Masks(m) => {
            out.push(format!("{pad}{}", plural(m.masks.len(), "mask", "masks")));
            if !m.masks.is_empty() {
                let all = m.masks.iter().map(|k| (k.label.as_str(), k.score));
                out.push(format!("{inner}by label: {}", label_counts(all)));
            }
            push_capped(
                out,
                &inner,
                m.masks.iter().map(|k| {
                    format!(
                        "[{}] {} covering {:.1}% of the frame (score {:.2}, {}x{})",
                        clock(k.time),
                        k.label,
                        100.0 * k.coverage(),
                        k.score,
                        k.width,
                        k.height
                    )
                }),
            );
        }
        Value::TimedText(t) => {
            let mut sources: Vec<&str> = t.cues.iter().map(|c| c.source.as_str()).collect();
            sources.sort_unstable();
            sources.dedup();
            let from = if sources.is_empty() || sources.iter().all(|s| s.is_empty()) {
                String::new()
            } else {
                format!(" from {}", sources.join(", "))
            };
            out.push(format!("{pad}{}{from}", plural(t.cues.len(), "cue", "cues")));
            push_capped(out, &inner, t.cues.iter().map(cue_line));
        }
        Value::Text(s) => {
            if depth == 0 {
                out.push(s.to_string());
            } else {
                for line in s.lines() {
                    out.push(format!("{pad}{line}"));
                }
            }
        }
        Value::Int(v) => out.push(format!("{pad}{v}")),
        Value::Number(v) => out.push(format!("{pad}{v}")),
        Value::Bool(v) => out.push(format!("{pad}{v}")),
        Value::Duration(v) => out.push(format!("{pad}{v:.3} s")),
        Value::Timestamp(v) => out.push(format!("{pad}{} ({v:.3} s)", clock(*v))),
        Value::Choice(c) => {
            out.push(format!("{pad}Chose option {}: \"{}\" (confidence {:.3})", c.index, one_line(&c.option), c.confidence));
            if !c.scores.is_empty() {
                let scores: Vec<String> = c.scores.iter().enumerate().map(|(i, s)| format!("[{i}] {s:.3}")).collect();
                out.push(format!("{inner}scores: {}", scores.join(", ")));
            }
            if !c.method.is_empty() {
                out.push(format!("{inner}method: {}", c.method));
            }
        }
        Value::List(items) => {
            out.push(format!("{pad}List of {} ({})", plural(items.len(), "item", "items"), value.type_of()));
            for (i, item) in items.iter().take(MAX_ENTRIES).enumerate() {
                let mut sub = Vec::new();
                describe_into(&mut sub, item, depth + 2);
                if sub.is_empty() {
                    sub.push(String::from("(empty text)"));
                }
                // Number the item on its first line.
                if let Some(first) = sub.first_mut() {
                    let body = first.trim_start().to_string();
                    *first = format!("{inner}{}. {body}", i + 1);
                }
                out.extend(sub);
            }
            if items.len() > MAX_ENTRIES {
                out.push(format!("{inner}… and {} more", items.len() - MAX_ENTRIES));
            }
        }
    }
}
