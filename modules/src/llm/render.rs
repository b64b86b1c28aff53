//! Evidence as a token-budgeted text context for a language model.
//!
//! # Items
//!
//! The evidence (any value, lists nested to any depth) is flattened into
//! items, each with a time span where the value has one:
//!
//! - a **cue** of timed text: `[00:22.7-00:25.6] You see, I teach entrepreneurship,`
//!   (with ` (source)` after the time when the evidence mixes cue sources);
//! - a **frame of detections** with boxes: `[00:03.0-00:03.0] detected: car ×1, person ×2`
//!   (a header line per Detections value says how many frames were examined
//!   and how many had boxes; frames without boxes are not listed);
//! - a **track**: `[00:01.0-00:09.5] track #3 (person): 20 points, centre (120,80) -> (300,95)`;
//! - a **frame** (`frame at`), **frames** (count and span), a **clip** segment,
//!   a **timestamp**, a **video** (name and length);
//! - an **untimed fact** (Int, Number, Bool, Text, Duration, Choice): prefixed
//!   `[untimed]`, e.g. `[untimed] number: 3`, `[untimed] choice: cooking (confidence 0.41)`.
//!
//! Every line starts with `[MM:SS.s-MM:SS.s]` (or `[untimed]`). Lines are in
//! time order; untimed facts come first, in evidence order.
//!
//! # Fitting the budget
//!
//! Tokens are counted with the target model's tokenizer on the whole text.
//! Level 0 lists every item. When that is over budget, the renderer coarsens
//! step by step, SiLVR-style, trying windows of 2, 5, 10, 15, 30, 60, 120,
//! 300, 600, 1200 s, then 1, 2, 4, ... h (until one window covers the whole
//! span): within each window, cues are merged into one line (their texts
//! joined, spanning first start to last end), detections become counts per
//! label (`person: in 5 frames, up to 3 at once`) and tracks
//! become counts per label (`2 person tracks (#1, #4)`); untimed facts stay.
//! The first level that fits is used. If even the coarsest level does not
//! fit, its lines are kept in order while they fit and a final line
//! `[... truncated: N of M lines omitted to fit B tokens]` says so (a first line
//! longer than the budget is cut at a word boundary and ends with `...`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use vprog_runtime::value::{clock, Detections, Tracks};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::{evidence_arg, int_arg, load_tokenizer, model_arg, DEFAULT_MODEL};
use crate::model_store::ModelStore;

/// Windows (seconds) tried in order when coarsening; after the last, windows double.
pub const WINDOWS: &[f64] = &[2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0];

/// How a context was rendered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderReport {
    /// 0 = every item; k >= 1 = the k-th window size.
    pub level: usize,
    /// `items`, `window 10 s`, ... with `, truncated` when lines were cut.
    pub granularity: String,
    /// The window size in seconds at levels >= 1.
    pub window_s: Option<f64>,
    /// Tokens of the rendered text (the model's tokenizer).
    pub tokens: usize,
    /// The budget.
    pub budget: usize,
    /// Items in the evidence (cues, frames with boxes, tracks, facts, ...).
    pub items: usize,
    /// Lines of the level used, before any truncation.
    pub lines: usize,
    /// Items whose line (own or merged) was cut by truncation.
    pub items_dropped: usize,
    /// Whether the level used is coarser than one line per item.
    pub coarsened: bool,
    /// Whether lines were cut to fit.
    pub truncated: bool,
    /// Whether the most relevant items were kept instead (see [`RenderOptions::ranker`]).
    pub ranked: bool,
    /// Items left out for a score below [`RenderOptions::min_score`].
    pub items_below_min_score: usize,
}

/// One piece of evidence.
#[derive(Debug, Clone)]
enum Item {
    Cue {
        start: f64,
        end: f64,
        text: String,
        source: String,
        score: Option<f64>,
    },
    Boxes {
        time: f64,
        labels: Vec<String>,
    },
    /// Per label: frames it was seen in and the most boxes of it in one frame.
    DetectionsHeader {
        start: f64,
        end: f64,
        frames: usize,
        with_boxes: usize,
        labels: Vec<(String, usize, usize)>,
    },
    Track {
        start: f64,
        end: f64,
        id: u32,
        label: String,
        points: usize,
        from: (f32, f32),
        to: (f32, f32),
    },
    Timed {
        start: f64,
        end: f64,
        text: String,
    },
    Untimed {
        text: String,
    },
}

impl Item {
    fn start(&self) -> Option<f64> {
        match self {
            Item::Cue { start, .. } | Item::DetectionsHeader { start, .. } | Item::Track { start, .. } | Item::Timed { start, .. } => {
                Some(*start)
            }
            Item::Boxes { time, .. } => Some(*time),
            Item::Untimed { .. } => None,
        }
    }

    fn end(&self) -> Option<f64> {
        match self {
            Item::Cue { end, .. } | Item::DetectionsHeader { end, .. } | Item::Track { end, .. } | Item::Timed { end, .. } => Some(*end),
            Item::Boxes { time, .. } => Some(*time),
            Item::Untimed { .. } => None,
        }
    }
}

/// `[MM:SS.s-MM:SS.s]`.
pub fn stamp(start: f64, end: f64) -> String {
    format!("[{}-{}]", clock(start), clock(end))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn collect(v: &Value, out: &mut Vec<Item>) {
    match v {
        Value::TimedText(t) => {
            for c in &t.cues {
                out.push(Item::Cue { start: c.start, end: c.end, text: one_line(&c.text), source: c.source.clone(), score: c.score });
            }
        }
        Value::Detections(d) => collect_detections(d, out),
        Value::Tracks(t) => collect_tracks(t, out),
        Value::List(items) => items.iter().for_each(|i| collect(i, out)),
        Value::Text(s) => out.push(Item::Untimed { text: format!("text: {}", one_line(s)) }),
        Value::Int(n) => out.push(Item::Untimed { text: format!("number: {n}") }),
        Value::Number(x) => out.push(Item::Untimed { text: format!("number: {}", fmt_num(*x)) }),
        Value::Bool(b) => out.push(Item::Untimed { text: format!("truth value: {b}") }),
        Value::Duration(d) => out.push(Item::Untimed { text: format!("duration: {} s", fmt_num(*d)) }),
        Value::Choice(c) => out.push(Item::Untimed { text: format!("choice: {} (confidence {:.2})", one_line(&c.option), c.confidence) }),
        Value::Timestamp(t) => out.push(Item::Timed { start: *t, end: *t, text: "timestamp".into() }),
        Value::Frame(f) => out.push(Item::Timed { start: f.time, end: f.time, text: format!("frame ({}x{})", f.width, f.height) }),
        Value::Frames(fs) => {
            if let (Some(a), Some(b)) = (fs.first(), fs.last()) {
                out.push(Item::Timed { start: a.time, end: b.time, text: format!("{} frames", fs.len()) });
            }
        }
        Value::Clip(c) => {
            for s in &c.segments {
                out.push(Item::Timed { start: s.start, end: s.end, text: format!("clip segment ({:.1} s)", s.len()) });
            }
        }
        Value::Video(vr) => {
            let name = vr.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            out.push(Item::Timed { start: 0.0, end: vr.info.duration, text: format!("video {name}") });
        }
        Value::Masks(m) => {
            for mask in &m.masks {
                out.push(Item::Boxes {
                    time: mask.time,
                    labels: vec![format!("{} (mask, {:.0}% of the frame)", mask.label, 100.0 * mask.coverage())],
                });
            }
        }
    }
}

fn collect_detections(d: &Detections, out: &mut Vec<Item>) {
    let (Some(first), Some(last)) = (d.frames.first(), d.frames.last()) else { return };
    let with_boxes = d.frames.iter().filter(|f| !f.boxes.is_empty()).count();
    let mut labels: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for f in &d.frames {
        let mut here: BTreeMap<&str, usize> = BTreeMap::new();
        for b in &f.boxes {
            *here.entry(b.label.as_str()).or_insert(0) += 1;
        }
        for (l, n) in here {
            let e = labels.entry(l).or_insert((0, 0));
            e.0 += 1;
            e.1 = e.1.max(n);
        }
    }
    let labels = labels.into_iter().map(|(l, (seen, most))| (l.to_string(), seen, most)).collect();
    out.push(Item::DetectionsHeader { start: first.time, end: last.time, frames: d.frames.len(), with_boxes, labels });
    for f in d.frames.iter().filter(|f| !f.boxes.is_empty()) {
        out.push(Item::Boxes { time: f.time, labels: f.boxes.iter().map(|b| b.label.clone()).collect() });
    }
}

fn collect_tracks(t: &Tracks, out: &mut Vec<Item>) {
    for tr in &t.tracks {
        let (Some(a), Some(b)) = (tr.points.first(), tr.points.last()) else { continue };
        let centre = |p: &vprog_runtime::value::TrackPoint| (p.bbox.x + p.bbox.w / 2.0, p.bbox.y + p.bbox.h / 2.0);
        out.push(Item::Track {
            start: a.time,
            end: b.time,
            id: tr.id,
            label: tr.label.clone(),
            points: tr.points.len(),
            from: centre(a),
            to: centre(b),
        });
    }
}

fn label_counts(labels: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in labels {
        *counts.entry(l.as_str()).or_insert(0) += 1;
    }
    counts.iter().map(|(l, n)| format!("{l} ×{n}")).collect::<Vec<_>>().join(", ")
}

/// One line per item (level 0).
fn item_lines(items: &[&Item], mixed_sources: bool) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Item::Cue { start, end, text, source, .. } => {
                if mixed_sources {
                    format!("{} ({source}) {text}", stamp(*start, *end))
                } else {
                    format!("{} {text}", stamp(*start, *end))
                }
            }
            Item::Boxes { time, labels } => format!("{} detected: {}", stamp(*time, *time), label_counts(labels)),
            Item::DetectionsHeader { start, end, frames, with_boxes, labels } => {
                // Per-frame boxes say how many are visible at once, not how
                // many distinct ones there are: a model must not sum them or
                // count the frames (it answered "8 people" for 8 frames).
                let per_label: Vec<String> = labels
                    .iter()
                    .map(|(l, seen, most)| format!("{l}: in {seen} of {frames} frames, up to {most} at once, distinct {l}s unknown"))
                    .collect();
                let caveat = if labels.is_empty() {
                    String::new()
                } else {
                    format!("; {} (boxes are per frame, not tracked)", per_label.join("; "))
                };
                format!("{} detections: {frames} frames examined, {with_boxes} with boxes{caveat}", stamp(*start, *end))
            }
            Item::Track { start, end, id, label, points, from, to } => format!(
                "{} track #{id} ({label}): {points} points, centre ({:.0},{:.0}) -> ({:.0},{:.0})",
                stamp(*start, *end),
                from.0,
                from.1,
                to.0,
                to.1
            ),
            Item::Timed { start, end, text } => format!("{} {text}", stamp(*start, *end)),
            Item::Untimed { text } => format!("[untimed] {text}"),
        })
        .collect()
}

/// Lines at window `w`: per window, merged cues, detection and track counts.
/// Returns the lines and, per line, how many items it stands for.
fn window_lines(items: &[&Item], w: f64, mixed_sources: bool) -> Vec<(String, usize)> {
    let mut lines: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let item = items[i];
        let Some(start) = item.start() else {
            lines.extend(item_lines(&[item], mixed_sources).into_iter().map(|l| (l, 1)));
            i += 1;
            continue;
        };
        let k = (start / w).floor();
        let (ws, we) = (k * w, (k + 1.0) * w);
        let mut j = i;
        while j < items.len() && items[j].start().is_some_and(|s| s < we) {
            j += 1;
        }
        let group = &items[i..j.max(i + 1)];
        i = j.max(i + 1);
        // Cues merged, per source.
        let mut by_source: BTreeMap<&str, (f64, f64, Vec<&str>, usize)> = BTreeMap::new();
        let mut boxes: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new(); // label -> (boxes, frames, max per frame)
        let mut box_frames = 0;
        let mut tracks: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for it in group {
            match it {
                Item::Cue { start, end, text, source, .. } => {
                    let e = by_source.entry(source.as_str()).or_insert((*start, *end, Vec::new(), 0));
                    e.0 = e.0.min(*start);
                    e.1 = e.1.max(*end);
                    e.2.push(text);
                    e.3 += 1;
                }
                Item::Boxes { labels, .. } => {
                    box_frames += 1;
                    let mut here: BTreeMap<&str, usize> = BTreeMap::new();
                    for l in labels {
                        *here.entry(l.as_str()).or_insert(0) += 1;
                    }
                    for (l, n) in here {
                        let e = boxes.entry(l).or_insert((0, 0, 0));
                        e.0 += n;
                        e.1 += 1;
                        e.2 = e.2.max(n);
                    }
                }
                Item::Track { id, label, .. } => tracks.entry(label.as_str()).or_default().push(*id),
                other => lines.extend(item_lines(&[other], mixed_sources).into_iter().map(|l| (l, 1))),
            }
        }
        for (source, (s, e, texts, n)) in by_source {
            let text = texts.join(" ");
            let line = if mixed_sources { format!("{} ({source}) {text}", stamp(s, e)) } else { format!("{} {text}", stamp(s, e)) };
            lines.push((line, n));
        }
        if !boxes.is_empty() {
            let desc: Vec<String> = boxes.iter().map(|(l, (_, f, m))| format!("{l}: in {f} frames, up to {m} at once")).collect();
            lines.push((format!("{} detected in {box_frames} frames: {}", stamp(ws, we), desc.join("; ")), box_frames));
        }
        if !tracks.is_empty() {
            let n: usize = tracks.values().map(Vec::len).sum();
            let desc: Vec<String> = tracks
                .iter()
                .map(|(l, ids)| {
                    let ids: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
                    format!("{} {l} track{} ({})", ids.len(), if ids.len() == 1 { "" } else { "s" }, ids.join(", "))
                })
                .collect();
            lines.push((format!("{} tracks starting: {}", stamp(ws, we), desc.join("; ")), n));
        }
    }
    lines
}

/// Scores lines of evidence by relevance (higher is more relevant), one score per line.
pub type Ranker<'a> = dyn Fn(&[String]) -> Vec<f64> + 'a;

/// How [`render_with`] filters and ranks the evidence.
#[derive(Clone, Copy, Default)]
pub struct RenderOptions<'a> {
    /// Cues and boxes whose score (recognition confidence: OCR, ASR,
    /// detection) is below this are left out; `0` keeps all.
    pub min_score: f64,
    /// When the items are over budget, keep the most relevant ones (in time
    /// order) instead of coarsening.
    pub ranker: Option<&'a Ranker<'a>>,
}

/// Renders `evidence` within `budget` tokens as counted by `count`.
pub fn render(evidence: &Value, budget: usize, count: &dyn Fn(&str) -> usize) -> (String, RenderReport) {
    render_with(evidence, budget, count, RenderOptions::default())
}

/// Renders `evidence` within `budget` tokens as counted by `count`, leaving
/// out what scores below `options.min_score`; over budget, the items the
/// `options.ranker` finds most relevant are kept (in time order) when one is
/// given, otherwise the evidence is coarsened.
pub fn render_with(evidence: &Value, budget: usize, count: &dyn Fn(&str) -> usize, options: RenderOptions<'_>) -> (String, RenderReport) {
    let mut items = Vec::new();
    collect(evidence, &mut items);
    let dropped_low = drop_below(&mut items, options.min_score);
    let mut ordered: Vec<&Item> = items.iter().filter(|i| i.start().is_none()).collect();
    let mut timed: Vec<&Item> = items.iter().filter(|i| i.start().is_some()).collect();
    timed.sort_by(|a, b| a.start().unwrap_or(0.0).total_cmp(&b.start().unwrap_or(0.0)));
    ordered.extend(timed.iter().copied());
    let mixed_sources = {
        let mut sources = items.iter().filter_map(|i| if let Item::Cue { source, .. } = i { Some(source.as_str()) } else { None });
        let first = sources.next();
        sources.any(|s| Some(s) != first)
    };
    let span = {
        let lo = timed.iter().filter_map(|i| i.start()).fold(f64::INFINITY, f64::min);
        let hi = timed.iter().filter_map(|i| i.end()).fold(f64::NEG_INFINITY, f64::max);
        if lo <= hi {
            hi - lo.min(hi)
        } else {
            0.0
        }
    };
    let n_items = items.len();
    let report = |level: usize, granularity: String, window_s: Option<f64>, tokens: usize, lines: usize| RenderReport {
        level,
        granularity,
        window_s,
        tokens,
        budget,
        items: n_items,
        lines,
        items_dropped: 0,
        coarsened: level > 0,
        truncated: false,
        ranked: false,
        items_below_min_score: 0,
    };

    // Level 0.
    let lines: Vec<(String, usize)> = item_lines(&ordered, mixed_sources).into_iter().map(|l| (l, 1)).collect();
    let text = join(&lines);
    let tokens = count(&text);
    if tokens <= budget {
        let mut r = report(0, "items".into(), None, tokens, lines.len());
        r.items_below_min_score = dropped_low;
        return (text, r);
    }
    if let Some(ranker) = options.ranker {
        if let Some((text, mut r)) = ranked(&ordered, &lines, ranker, budget, count) {
            r.items = n_items;
            r.items_below_min_score = dropped_low;
            return (text, r);
        }
    }
    // Coarser levels.
    let mut level = 0;
    let mut windows = WINDOWS.to_vec();
    let last = loop {
        let w = match windows.get(level) {
            Some(w) => *w,
            None => {
                let w = windows.last().copied().unwrap_or(3600.0) * 2.0;
                windows.push(w);
                w
            }
        };
        level += 1;
        let lines = window_lines(&ordered, w, mixed_sources);
        let text = join(&lines);
        let tokens = count(&text);
        if tokens <= budget {
            return (text, report(level, format!("window {} s", fmt_num(w)), Some(w), tokens, lines.len()));
        }
        if w > span || level > 64 {
            break (lines, level, Some(w));
        }
    };
    // Last resort: truncate the coarsest level.
    let (lines, level, w) = last;
    let total_lines = lines.len();
    let granularity = match w {
        Some(w) => format!("window {} s, truncated", fmt_num(w)),
        None => "items, truncated".to_string(),
    };
    let marker = |kept: usize| format!("[... truncated: {} of {total_lines} lines omitted to fit {budget} tokens]", total_lines - kept);
    // Largest prefix that fits together with the marker (binary search on exact counts).
    let fits = |k: usize| {
        let mut t = join(&lines[..k]);
        if !t.is_empty() {
            t.push('\n');
        }
        t.push_str(&marker(k));
        count(&t) <= budget
    };
    let (mut lo, mut hi) = (0usize, total_lines);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let kept = lo;
    let mut text = join(&lines[..kept]);
    if kept == 0 {
        // Cut the first line at a word boundary.
        if let Some((first, _)) = lines.first() {
            let room = budget.saturating_sub(count(&marker(0)) + 2);
            let words: Vec<&str> = first.split(' ').collect();
            let (mut lo, mut hi) = (0usize, words.len());
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                if count(&format!("{} ...", words[..mid].join(" "))) <= room {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            if lo > 0 {
                text = format!("{} ...", words[..lo].join(" "));
            }
        }
    }
    if !text.is_empty() {
        text.push('\n');
    }
    let _ = write!(text, "{}", marker(kept));
    let dropped: usize = lines[kept..].iter().map(|(_, n)| n).sum();
    let tokens = count(&text);
    let mut r = report(level, granularity, w, tokens, total_lines);
    r.items_dropped = dropped;
    r.truncated = true;
    r.items_below_min_score = dropped_low;
    (text, r)
}

/// `render_evidence(evidence, budget = 1000, model = DEFAULT_MODEL) -> Text`.
pub struct RenderEvidence {
    sig: Signature,
    store: Arc<ModelStore>,
}

impl RenderEvidence {
    /// The module, counting tokens with models from `store`.
    pub fn new(store: Arc<ModelStore>) -> RenderEvidence {
        let sig = Signature::new(
            "render_evidence",
            "1.0.0",
            Returns::Is(Type::Text),
            "Renders evidence as the token-budgeted, timestamped text context that `choose` and `ask_llm` give the language model.
Accepts any mix of TimedText, Detections, Tracks, counts, numbers, Text, Bool, Choice, \
clips, frames and lists of them. One line per item, each starting with `[MM:SS.s-MM:SS.s]` \
(untimed values: `[untimed]`), in time order: cues as their text, frames with boxes as \
counts per label, tracks with their span and movement. Tokens are counted with the \
tokenizer of `model`. Over `budget`, the text is coarsened step by step: windows of \
2, 5, 10, 15, 30, 60 s and longer, each window merging its cues into one line and \
summarising detections and tracks as counts per label; the first level that fits is \
used. Only when one window over everything still does not fit are lines cut, and a \
final `[... truncated: N of M lines omitted to fit B tokens]` line says so. The level \
used, token count and items dropped are noted in the trace (`render`).",
        )
        .param(Param::of("evidence", Type::Any, "What to render: any value or list of values.").default(Value::List(Arc::new(Vec::new()))))
        .param(Param::of("budget", Type::Int, "Most tokens the text may take.").default(Value::Int(1000)).range(16.0, 100_000.0))
        .param(Param::of("model", Type::Text, "Whose tokenizer counts the tokens.").default(Value::text(DEFAULT_MODEL)))
        .cache(CachePolicy::Memory);
        RenderEvidence { sig, store }
    }
}

#[async_trait]
impl Module for RenderEvidence {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let budget = int_arg(&args, "budget", 16, 100_000)?;
        let model = model_arg(&args)?;
        let evidence = evidence_arg(&args);
        let tok = load_tokenizer(&self.store, &model, ctx).await?;
        let (text, report) = ctx.blocking(move || Ok(render(&evidence, budget, &|s: &str| tok.count(s)))).await?;
        note_render(ctx, &text, &report);
        Ok(Value::text(text))
    }
}

/// Notes the rendered context and its report in the trace (`context`, `render`,
/// and `render_coarsened` / `render_truncated` explaining what was done).
pub fn note_render(ctx: &StepContext, text: &str, report: &RenderReport) {
    ctx.note("context", text);
    ctx.note("render", report);
    if report.coarsened {
        ctx.note(
            "render_coarsened",
            format!(
                "evidence over the {}-token budget: coarsened to {} ({} items in {} lines)",
                report.budget, report.granularity, report.items, report.lines
            ),
        );
    }
    if report.truncated {
        ctx.note("render_truncated", format!("even the coarsest level did not fit: {} items dropped by truncation", report.items_dropped));
    }
}

/// Drops cues and boxes scoring below `min` (items without a score stay);
/// how many items went.
fn drop_below(items: &mut Vec<Item>, min: f64) -> usize {
    if min <= 0.0 {
        return 0;
    }
    let before = items.len();
    items.retain(|i| !matches!(i, Item::Cue { score: Some(s), .. } if *s < min));
    before - items.len()
}

/// The most relevant level-0 `lines` (one per item of `ordered`) that fit
/// `budget` together, in time order; untimed facts and detection headers are
/// always kept. `None` when not even those fit.
fn ranked(
    ordered: &[&Item],
    lines: &[(String, usize)],
    ranker: &Ranker<'_>,
    budget: usize,
    count: &dyn Fn(&str) -> usize,
) -> Option<(String, RenderReport)> {
    let texts: Vec<String> = lines.iter().map(|(l, _)| l.clone()).collect();
    let scores = ranker(&texts);
    if scores.len() != lines.len() {
        return None;
    }
    let pinned = |i: usize| matches!(ordered.get(i), Some(Item::Untimed { .. } | Item::DetectionsHeader { .. }));
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by(|&a, &b| pinned(b).cmp(&pinned(a)).then(scores[b].total_cmp(&scores[a])).then(a.cmp(&b)));
    let mut keep = vec![false; lines.len()];
    let mut used = 0;
    debug_assert_eq!(ordered.len(), lines.len());
    for &i in &order {
        let cost = count(&texts[i]) + 1;
        if used + cost <= budget {
            keep[i] = true;
            used += cost;
        } else if pinned(i) {
            return None;
        }
    }
    // Per-line counts can differ from the joined text's at the seams: drop the
    // least relevant kept lines until the joined text fits.
    let mut kept: Vec<usize> = (0..lines.len()).filter(|&i| keep[i]).collect();
    let joined = |kept: &[usize]| kept.iter().map(|&i| texts[i].as_str()).collect::<Vec<_>>().join("\n");
    let mut text = joined(&kept);
    let mut tokens = count(&text);
    while tokens > budget {
        let worst = (0..kept.len()).filter(|&k| !pinned(kept[k])).min_by(|&a, &b| scores[kept[a]].total_cmp(&scores[kept[b]]))?;
        kept.remove(worst);
        text = joined(&kept);
        tokens = count(&text);
    }
    let n = kept.len();
    let report = RenderReport {
        level: 0,
        granularity: format!("items ranked by relevance, {n} of {} kept", lines.len()),
        window_s: None,
        tokens,
        budget,
        items: lines.len(),
        lines: n,
        items_dropped: lines.len() - n,
        coarsened: false,
        truncated: false,
        ranked: true,
        items_below_min_score: 0,
    };
    Some((text, report))
}

fn join(lines: &[(String, usize)]) -> String {
    lines.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use vprog_runtime::value::{Cue, TimedText};

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    fn cues(n: usize) -> Value {
        let cues = (0..n)
            .map(|i| Cue {
                start: i as f64 * 3.0,
                end: i as f64 * 3.0 + 2.5,
                text: format!("cue number {i} says something"),
                score: None,
                bbox: None,
                source: "subtitles:srt".into(),
            })
            .collect();
        Value::TimedText(Arc::new(TimedText { cues }))
    }

    #[test]
    fn fits_at_level_zero() {
        let (text, r) = render(&cues(3), 1000, &words);
        assert_eq!(r.level, 0);
        assert_eq!(text.lines().count(), 3);
        assert!(text.starts_with("[00:00.0-00:02.5] cue number 0"));
    }

    #[test]
    fn coarsens_then_truncates() {
        // 40 cues of 5 words plus a one-word stamp each: 240 words; windows of
        // 5 s merge about two cues per stamp.
        let (text, r) = render(&cues(40), 230, &words);
        assert!(r.coarsened && !r.truncated, "{r:?}");
        assert_eq!(r.window_s, Some(5.0));
        assert!(r.tokens <= 230);
        assert!(text.lines().count() < 40);
        let (text, r) = render(&cues(40), 20, &words);
        assert!(r.truncated && r.items_dropped > 0, "{r:?}");
        assert!(text.contains("[... truncated:"), "{text}");
        assert!(words(&text) <= 20, "{text}");
    }

    #[test]
    fn over_budget_the_most_relevant_items_are_kept_in_time_order() {
        let ev = Value::List(Arc::new(vec![Value::Int(7), cues(40)]));
        // Relevance: cues 5 and 30 matter, then the higher the number the better.
        let ranker = |lines: &[String]| -> Vec<f64> {
            lines
                .iter()
                .map(|l| match l {
                    l if l.contains("number 5 ") || l.contains("number 30 ") => 100.0,
                    l if l.contains("[untimed]") => 0.0,
                    l => l.split_whitespace().nth(3).and_then(|n| n.parse::<f64>().ok()).unwrap_or(0.0),
                })
                .collect()
        };
        let (text, r) = render_with(&ev, 30, &words, RenderOptions { min_score: 0.0, ranker: Some(&ranker) });
        assert!(r.ranked && !r.coarsened && !r.truncated, "{r:?}");
        assert!(r.tokens <= 30 && r.items_dropped > 0, "{r:?}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"[untimed] number: 7"), "untimed facts are always kept: {text}");
        assert!(text.contains("number 5 ") && text.contains("number 30 ") && text.contains("number 39 "), "{text}");
        assert!(!text.contains("number 6 "), "{text}");
        let pos = |n: &str| text.find(n).unwrap_or(usize::MAX);
        assert!(pos("number 5 ") < pos("number 30 ") && pos("number 30 ") < pos("number 39 "), "time order: {text}");
        // Within budget nothing is ranked away.
        let (_, r) = render_with(&cues(3), 1000, &words, RenderOptions { min_score: 0.0, ranker: Some(&ranker) });
        assert!(!r.ranked && r.items_dropped == 0);
    }

    #[test]
    fn low_scoring_cues_are_left_out() {
        let cue = |text: &str, score: Option<f64>| Cue { start: 1.0, end: 2.0, text: text.into(), score, bbox: None, source: "ocr".into() };
        let v =
            Value::TimedText(Arc::new(TimedText { cues: vec![cue("sure", Some(0.9)), cue("guess", Some(0.2)), cue("unscored", None)] }));
        let (text, r) = render_with(&v, 100, &words, RenderOptions { min_score: 0.5, ranker: None });
        assert!(text.contains("sure") && text.contains("unscored") && !text.contains("guess"), "{text}");
        assert_eq!(r.items_below_min_score, 1);
        let (text, _) = render(&v, 100, &words);
        assert!(text.contains("guess"));
    }

    /// Eight frames of people (the `ask vtest.avi "How many people ..."`
    /// case that was answered "8"): the evidence says how many are visible
    /// at once and that the distinct count is unknown, and gives no box
    /// total to sum.
    #[test]
    fn detections_say_the_distinct_count_is_unknown() {
        use vprog_runtime::value::{BBox, Detections, FrameDetections};
        let per_frame = [6usize, 7, 5, 9, 6, 4, 7, 6];
        let frames = per_frame
            .iter()
            .enumerate()
            .map(|(i, &n)| FrameDetections {
                time: i as f64 * 10.0,
                width: 768,
                height: 576,
                boxes: (0..n)
                    .map(|k| BBox { x: k as f32 * 40.0, y: 100.0, w: 30.0, h: 80.0, label: "person".into(), score: 0.8 })
                    .collect(),
            })
            .collect();
        let v = Value::Detections(Arc::new(Detections { frames }));
        let (text, _) = render(&v, 1000, &words);
        let header = text.lines().next().unwrap_or_default();
        assert!(
            header.contains("person: in 8 of 8 frames, up to 9 at once, distinct persons unknown (boxes are per frame, not tracked)"),
            "{text}"
        );
        assert!(!text.contains("50 boxes") && !text.contains(" boxes in "), "a box total invites summing: {text}");
        // Coarsened under a small budget, the summary keeps the same shape.
        let (small, r) = render(&v, 40, &words);
        assert!(r.level > 0 && !small.contains("50 boxes") && !small.contains(" boxes in "), "{small}");
    }

    #[test]
    fn untimed_facts() {
        let v = Value::List(Arc::new(vec![Value::Int(3), Value::text("hello  world")]));
        let (text, _) = render(&v, 100, &words);
        assert_eq!(text, "[untimed] number: 3\n[untimed] text: hello world");
    }
}
