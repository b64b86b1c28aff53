//! The self-contained HTML report of a trace.
//!
//! [`render_report`] reads a trace directory and renders one HTML page that
//! needs nothing else: the stylesheet is inline, evidence images are inlined
//! as `data:image/jpeg;base64,` URIs, and the page reads fully without
//! JavaScript (collapsible parts are `<details>`; the only script adds
//! "expand all / collapse all" buttons).
//!
//! Security: every string that comes from the trace (program text, question,
//! options, subtitles, OCR text, labels, paths, error messages) reaches the
//! page through minijinja's HTML auto-escaping. The template never uses
//! `|safe`; the only values marked safe are the data URIs built here from
//! base64 text, which cannot contain markup, and the sections of trace
//! extensions, which their [`ReportExtension`] renders with the same
//! auto-escaping. Files are read only at relative paths inside the trace
//! directory, and only real JPEGs are inlined.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value as Json;

use super::artifacts::{pick_evenly, ARTIFACTS_PER_STEP};
use super::{read_trace, Trace, TraceError, TraceStep};
use crate::value::clock;

/// The page template. Its name ends in `.html`, which turns on HTML auto-escaping.
const TEMPLATE_NAME: &str = "report.html";
const TEMPLATE: &str = include_str!("report.html");

/// Sidecars larger than this are shown truncated (rows capped, JSON cut).
const SIDECAR_SHOW_BYTES: u64 = 200 * 1024;
/// Sidecars larger than this are not parsed at all.
const SIDECAR_MAX_BYTES: u64 = 32 * 1024 * 1024;
/// Rows shown per table (cues, frames with boxes, tracks) of a large sidecar.
const MAX_ROWS: usize = 500;
/// Largest single evidence image inlined.
const IMAGE_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// Total bytes of evidence images inlined into one page; each distinct image
/// is inlined once (a repeat points at the step that shows it).
const IMAGE_BUDGET_BYTES: u64 = 48 * 1024 * 1024;
/// Elements of one map whose steps the page shows (evenly spaced, plus any
/// that failed); `trace.json` and `vprog trace show --all` hold every one.
const REPORT_MAP_ELEMENTS: usize = 24;

/// Renders the trace in `dir` (a trace directory, or its `trace.json`) as one
/// self-contained HTML page and returns it.
///
/// The page shows, for a reader who wants to know *why* an answer came out:
/// the status, the answer (for a `Choice`, every option with its score and the
/// chosen one highlighted) and the steps it rests on, or the error and the
/// failing step; the question, options and video; the program with line
/// numbers and its canonical form; the optimizer report; a timeline of the
/// top-level steps coloured by cache status; and one section per step
/// (anchor `#step-<id>`) with its parameters, inputs, timing, cache status,
/// evidence images and its full output read from the sidecar JSON.
///
/// A missing, unreadable or corrupt sidecar or image is shown as a note in the
/// page (for example `(missing: outputs/….json)`) and never fails the report.
///
/// # Errors
///
/// The error of [`read_trace`] when `dir` holds no readable trace (missing
/// directory, garbage or foreign `trace.json`), or an I/O error naming `dir`
/// if the page template fails to render (a bug).
pub fn render_report(dir: &Path) -> Result<String, TraceError> {
    render_report_with(dir, &[])
}

/// A reader of one trace extension (a record another stage stored in the
/// trace, such as the planner's): it renders the extension's section of
/// the report. The runtime itself never reads an extension.
pub trait ReportExtension {
    /// The extension's name in the trace (`planner`).
    fn key(&self) -> &str;
    /// The record's section, read once; or why the record cannot be read
    /// (shown as a note instead).
    fn section(&self, record: &Json) -> Result<ExtensionSection, String>;
}

/// What a [`ReportExtension`] makes of its record.
pub struct ExtensionSection {
    /// The section's HTML, every value from the record escaped.
    pub html: String,
    /// Seconds the answer took in all, when the run the trace records is
    /// only its last part (a re-run of the program a search chose).
    pub answered_in_seconds: Option<f64>,
}

/// [`render_report`], with the sections of the extensions `extensions` can
/// read; any other extension is named in a note.
pub fn render_report_with(dir: &Path, extensions: &[&dyn ReportExtension]) -> Result<String, TraceError> {
    let trace = read_trace(dir)?;
    let base = if dir.is_dir() { dir.to_path_buf() } else { dir.parent().map(Path::to_path_buf).unwrap_or_default() };
    let page = Builder::new(&trace, base).page(extensions);
    let fail = |e: minijinja::Error| TraceError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other(format!("cannot render the report: {e:#}")),
    };
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    env.add_template(TEMPLATE_NAME, TEMPLATE).map_err(fail)?;
    env.get_template(TEMPLATE_NAME).and_then(|t| t.render(&page)).map_err(fail)
}

#[derive(Serialize)]
struct Page {
    run_id: String,
    vprog_version: String,
    created: String,
    ok: bool,
    status: String,
    wall: String,
    counts: String,
    answer: Option<AnswerView>,
    supporting: Vec<Link>,
    error: Option<ErrorView>,
    question: Option<String>,
    options: Vec<OptionRow>,
    choice: Option<ChoiceMeta>,
    video: Option<VideoView>,
    program: ProgramView,
    optimizer: Vec<(String, usize)>,
    timeline: Timeline,
    steps: Vec<StepView>,
    sections: Vec<SectionView>,
}

/// One trace extension's section.
#[derive(Serialize)]
struct SectionView {
    key: String,
    /// Rendered by its [`ReportExtension`].
    html: Option<minijinja::Value>,
    /// Why it is not rendered.
    note: Option<String>,
}

#[derive(Serialize)]
struct Link {
    id: String,
    anchor: String,
}

#[derive(Serialize)]
struct AnswerView {
    ty: String,
    summary: String,
    step: Option<Link>,
}

#[derive(Serialize)]
struct ErrorView {
    message: String,
    step: Option<Link>,
    pos: Option<String>,
    line: Option<usize>,
}

#[derive(Serialize)]
struct OptionRow {
    index: usize,
    text: String,
    score: Option<String>,
    bar: String,
    chosen: bool,
}

#[derive(Serialize)]
struct ChoiceMeta {
    index: usize,
    confidence: String,
    method: String,
}

#[derive(Serialize, Default)]
struct VideoView {
    path: String,
    duration: String,
    resolution: String,
    fps: String,
    codec: String,
    format: String,
    hash: String,
    hash_full: String,
    frames: String,
    streams: String,
    subtitles: String,
}

#[derive(Serialize)]
struct ProgramView {
    file: Option<String>,
    lines: Vec<SrcLine>,
    canonical: String,
}

#[derive(Serialize)]
struct SrcLine {
    n: usize,
    text: String,
    err: bool,
}

#[derive(Serialize)]
struct Timeline {
    scale: String,
    ticks: Vec<Tick>,
    rows: Vec<TimelineRow>,
}

#[derive(Serialize)]
struct Tick {
    left: String,
    label: String,
}

#[derive(Serialize)]
struct TimelineRow {
    id: String,
    anchor: String,
    op: String,
    left: String,
    width: String,
    class: String,
    title: String,
    supporting: bool,
}

#[derive(Serialize)]
struct Pos {
    text: String,
    line: usize,
}

#[derive(Serialize)]
struct InputView {
    slot: String,
    step: String,
    anchor: String,
    known: bool,
}

#[derive(Serialize)]
struct OutputView {
    ty: String,
    summary: String,
    file: String,
}

#[derive(Serialize)]
struct ImageView {
    /// `data:image/jpeg;base64,…`, marked safe; absent when the image could not be inlined.
    uri: Option<minijinja::Value>,
    file: String,
    caption: Option<String>,
    note: Option<String>,
}

#[derive(Serialize)]
struct NoteView {
    key: String,
    value: String,
}

#[derive(Serialize)]
struct StepView {
    id: String,
    anchor: String,
    op: String,
    version: Option<String>,
    ty: String,
    text: String,
    bindings: Vec<String>,
    pos: Option<Pos>,
    merged: Vec<Pos>,
    params: Vec<(String, String)>,
    inputs: Vec<InputView>,
    status: String,
    status_class: &'static str,
    cache: String,
    cache_class: &'static str,
    started: String,
    duration: String,
    key: String,
    error: Option<String>,
    notes: Vec<NoteView>,
    output: Option<OutputView>,
    supporting: bool,
    is_answer: bool,
    failing: bool,
    elements: Option<(usize, usize)>,
    images: Vec<ImageView>,
    full: Full,
    children: Vec<StepView>,
    /// Per-element steps of a large map not shown.
    hidden_children: usize,
}

/// The full output, rendered by type. `kind` says which fields are filled.
#[derive(Serialize, Default)]
struct Full {
    kind: &'static str,
    notes: Vec<String>,
    cues: Vec<CueRow>,
    detections: Vec<DetRow>,
    label_totals: String,
    options: Vec<OptionRow>,
    choice: Option<ChoiceMeta>,
    times: Vec<String>,
    tracks: Vec<[String; 4]>,
    /// Masks: time, label, share of the frame covered, score.
    masks: Vec<[String; 4]>,
    text: String,
}

#[derive(Serialize)]
struct CueRow {
    start: String,
    end: String,
    text: String,
    score: Option<String>,
    source: String,
    ocr: bool,
}

#[derive(Serialize)]
struct DetRow {
    time: String,
    count: usize,
    labels: String,
}

struct Builder<'a> {
    trace: &'a Trace,
    base: PathBuf,
    known: HashSet<&'a str>,
    supporting: HashSet<&'a str>,
    answer_step: Option<&'a str>,
    error_step: Option<&'a str>,
    options: Option<&'a [String]>,
    image_budget: u64,
    /// Images already inlined, with the step that shows them.
    inlined: HashMap<String, String>,
}

impl<'a> Builder<'a> {
    fn new(trace: &'a Trace, base: PathBuf) -> Builder<'a> {
        Builder {
            trace,
            base,
            known: trace.all_steps().into_iter().map(|s| s.id.as_str()).collect(),
            supporting: trace.answer.iter().flat_map(|a| a.supporting_steps.iter().map(String::as_str)).collect(),
            answer_step: trace.answer.as_ref().and_then(|a| a.step.as_deref()),
            error_step: trace.error.as_ref().and_then(|e| e.step.as_deref()),
            options: trace.inputs.options.as_deref(),
            image_budget: IMAGE_BUDGET_BYTES,
            inlined: HashMap::new(),
        }
    }

    fn page(mut self, extensions: &[&dyn ReportExtension]) -> Page {
        let t = self.trace;
        // Each record read once, by the extension that knows it.
        let read: Vec<_> = t
            .extensions
            .iter()
            .map(|(key, record)| (key, record, extensions.iter().find(|e| e.key() == key).map(|e| e.section(record))))
            .collect();
        let answered_in = read.iter().find_map(|(_, _, s)| s.as_ref()?.as_ref().ok()?.answered_in_seconds);
        let all = t.all_steps();
        let count = |f: &dyn Fn(&TraceStep) -> bool| all.iter().filter(|s| f(s)).count();
        let mut counts = format!(
            "{} steps · {} computed · {} from cache",
            all.len(),
            count(&|s| s.cache == "miss" || s.cache == "off"),
            count(&|s| s.cache == "memory" || s.cache == "disk")
        );
        for (word, n) in [("failed", count(&|s| s.status == "failed")), ("cancelled", count(&|s| s.status == "cancelled"))] {
            if n > 0 {
                counts.push_str(&format!(" · {n} {word}"));
            }
        }
        let choice_json = t
            .answer
            .as_ref()
            .filter(|a| a.ty == "Choice" || a.value.get("type").and_then(Json::as_str) == Some("Choice"))
            .map(|a| &a.value);
        let err_line = t.error.as_ref().and_then(|e| e.line);
        Page {
            run_id: t.run_id.clone(),
            vprog_version: t.vprog_version.clone(),
            created: utc(t.created_unix_ms),
            ok: t.status == "ok",
            status: t.status.clone(),
            wall: match answered_in {
                // `ask`: the final run reuses what the reasoning computed.
                Some(secs) => {
                    format!("{} of reasoning; the final run of the chosen program {} from the step cache", ms(secs * 1000.0), ms(t.wall_ms))
                }
                None => ms(t.wall_ms),
            },
            counts,
            answer: t.answer.as_ref().map(|a| AnswerView {
                ty: a.ty.clone(),
                summary: a.summary.clone(),
                step: a.step.as_deref().map(link),
            }),
            supporting: t.answer.iter().flat_map(|a| a.supporting_steps.iter().map(|s| link(s))).collect(),
            error: t.error.as_ref().map(|e| ErrorView {
                message: e.message.clone(),
                step: e.step.as_deref().map(link),
                pos: e.line.map(|l| e.column.map_or(format!("line {l}"), |c| format!("line {l}:{c}"))),
                line: e.line,
            }),
            question: t.inputs.question.clone(),
            options: option_rows(self.options, choice_json),
            choice: choice_json.map(choice_meta),
            video: t.inputs.video.as_ref().map(video_view),
            program: ProgramView {
                file: t.program.file.clone(),
                lines: t
                    .program
                    .source
                    .lines()
                    .enumerate()
                    .map(|(i, l)| SrcLine { n: i + 1, text: l.to_string(), err: err_line == Some(i + 1) })
                    .collect(),
                canonical: t.program.canonical.clone(),
            },
            optimizer: t.optimizer.clone(),
            timeline: self.timeline(),
            steps: t.steps.iter().map(|s| self.step(s)).collect(),
            sections: read
                .into_iter()
                .map(|(key, record, section)| match section {
                    Some(Ok(s)) => SectionView { key: key.clone(), html: Some(minijinja::Value::from_safe_string(s.html)), note: None },
                    Some(Err(e)) => SectionView { key: key.clone(), html: None, note: Some(e) },
                    None => SectionView {
                        key: key.clone(),
                        html: None,
                        note: Some(format!(
                            "this trace holds a `{key}` record ({}) that this report does not show",
                            record.get("schema").and_then(Json::as_str).unwrap_or("no schema")
                        )),
                    },
                })
                .collect(),
        }
    }

    fn timeline(&self) -> Timeline {
        let steps = &self.trace.steps;
        let end = steps.iter().map(|s| s.started_ms + s.duration_ms).fold(0.0, f64::max);
        let scale = self.trace.wall_ms.max(end).max(1e-3);
        let pct = |x: f64| (x / scale * 100.0).clamp(0.0, 100.0);
        let rows = steps
            .iter()
            .map(|s| {
                let left = pct(s.started_ms);
                let width = pct(s.duration_ms).max(0.4).min(100.0 - left).max(0.0);
                let colour = match s.status.as_str() {
                    "failed" => "st-failed",
                    "cancelled" => "st-cancelled",
                    _ => cache_class(&s.cache),
                };
                TimelineRow {
                    id: s.id.clone(),
                    anchor: anchor(&s.id),
                    op: s.op.clone(),
                    left: format!("{left:.3}"),
                    width: format!("{width:.3}"),
                    class: colour.to_string(),
                    title: format!("{} {}: {} at +{}, {}, cache {}", s.id, s.op, ms(s.duration_ms), ms(s.started_ms), s.status, s.cache),
                    supporting: self.supporting.contains(s.id.as_str()),
                }
            })
            .collect();
        let ticks = (0..=4).map(|i| Tick { left: format!("{}", i * 25), label: ms(scale * f64::from(i) / 4.0) }).collect();
        Timeline { scale: ms(scale), ticks, rows }
    }

    fn step(&mut self, s: &TraceStep) -> StepView {
        let scores = frame_scores(&s.notes);
        let (full, evidence) = match &s.output {
            Some(o) => self.full(&o.file, &scores),
            None => (Full { kind: "none", ..Full::default() }, Vec::new()),
        };
        let captions = if evidence.len() == s.artifacts.len() { evidence } else { Vec::new() };
        let images = s.artifacts.iter().enumerate().map(|(i, rel)| self.image(&s.id, rel, captions.get(i).cloned())).collect();
        let sampled: HashSet<usize> = match s.elements {
            Some((n, _)) => pick_evenly(n, REPORT_MAP_ELEMENTS).into_iter().collect(),
            None => HashSet::new(),
        };
        let shown: Vec<&TraceStep> = s
            .children
            .iter()
            .filter(|c| c.status != "ok" || super::element_index(&s.id, &c.id).is_none_or(|i| sampled.contains(&i)))
            .collect();
        let hidden_children = s.children.len() - shown.len();
        let pos = |p: &super::Position| Pos { text: format!("{}:{}", p.line, p.column), line: p.line };
        StepView {
            id: s.id.clone(),
            anchor: anchor(&s.id),
            op: s.op.clone(),
            version: s.version.clone(),
            ty: s.ty.clone(),
            text: s.text.clone(),
            bindings: s.bindings.clone(),
            pos: s.position.as_ref().map(pos),
            merged: s.merged.iter().map(pos).collect(),
            params: s.params.iter().map(|(k, v)| (k.clone(), super::text::param_text(v))).collect(),
            inputs: s
                .inputs
                .iter()
                .map(|i| InputView {
                    slot: i.slot.clone(),
                    step: i.step.clone(),
                    anchor: anchor(&i.step),
                    known: self.known.contains(i.step.as_str()),
                })
                .collect(),
            status: s.status.clone(),
            status_class: match s.status.as_str() {
                "ok" => "st-ok",
                "failed" => "st-failed",
                "cancelled" => "st-cancelled",
                _ => "st-other",
            },
            cache: s.cache.clone(),
            cache_class: cache_class(&s.cache),
            started: ms(s.started_ms),
            duration: ms(s.duration_ms),
            key: s.key.chars().take(16).collect(),
            error: s.error.clone(),
            notes: s
                .notes
                .iter()
                .map(|n| NoteView {
                    key: n.key.clone(),
                    value: match &n.value {
                        serde_json::Value::String(t) => t.clone(),
                        v => serde_json::to_string_pretty(v).unwrap_or_default(),
                    },
                })
                .collect(),
            output: s.output.as_ref().map(|o| OutputView { ty: o.ty.clone(), summary: o.summary.clone(), file: o.file.clone() }),
            supporting: self.supporting.contains(s.id.as_str()),
            is_answer: self.answer_step == Some(s.id.as_str()),
            failing: self.error_step == Some(s.id.as_str()),
            elements: s.elements,
            images,
            full,
            children: shown.into_iter().map(|c| self.step(c)).collect(),
            hidden_children,
        }
    }

    /// A path inside the trace directory, or `None` for absolute paths and `..`.
    fn inside(&self, rel: &str) -> Option<PathBuf> {
        let p = Path::new(rel);
        let plain = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
        plain.then(|| self.base.join(p))
    }

    /// One evidence image, inlined when it is a readable JPEG within budget.
    fn image(&mut self, step: &str, rel: &str, caption: Option<String>) -> ImageView {
        let mut view = ImageView { uri: None, file: rel.to_string(), caption, note: None };
        if let Some(first) = self.inlined.get(rel) {
            view.note = Some(format!("(the same image as step {first} shows)"));
            return view;
        }
        let bytes = match self.inside(rel) {
            None => Err(format!("(not shown: {rel} is outside the trace directory)")),
            Some(path) => match std::fs::metadata(&path) {
                Err(_) => Err(format!("(missing: {rel})")),
                Ok(m) if m.len() > IMAGE_MAX_BYTES => Err(format!("(too large to inline: {rel}, {})", size(m.len()))),
                Ok(m) if m.len() > self.image_budget => Err(format!("(not inlined, page image budget spent: {rel})")),
                Ok(_) => std::fs::read(&path).map_err(|e| format!("(unreadable: {rel}: {e})")),
            },
        };
        match bytes {
            Ok(b) if b.starts_with(&[0xFF, 0xD8, 0xFF]) => {
                self.image_budget = self.image_budget.saturating_sub(b.len() as u64);
                self.inlined.insert(rel.to_string(), step.to_string());
                let uri = format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(&b));
                // Safe by construction: a fixed prefix and base64 text, no markup characters.
                view.uri = Some(minijinja::Value::from_safe_string(uri));
            }
            Ok(_) => view.note = Some(format!("(not a JPEG: {rel})")),
            Err(note) => view.note = Some(note),
        }
        view
    }

    /// The full output from a sidecar, and captions for its evidence images
    /// (one per image, in order, when derivable).
    fn full(&self, rel: &str, scores: &[(f64, f64)]) -> (Full, Vec<String>) {
        let note = |n: String| (Full { kind: "missing", notes: vec![n], ..Full::default() }, Vec::new());
        let Some(path) = self.inside(rel) else {
            return note(format!("(not shown: {rel} is outside the trace directory)"));
        };
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(_) => return note(format!("(missing: {rel})")),
        };
        if len > SIDECAR_MAX_BYTES {
            return note(format!("(too large to show: {rel}, {})", size(len)));
        }
        let json: Json =
            match std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string())) {
                Ok(j) => j,
                Err(e) => return note(format!("(unreadable: {rel}: {e})")),
            };
        let large = len > SIDECAR_SHOW_BYTES;
        let cap = if large { MAX_ROWS } else { usize::MAX };
        let mut full = render_value(&json, self.options, cap);
        if full.notes.iter().any(|n| n.starts_with("showing")) || (large && full.kind == "json") {
            full.notes.push(format!("large sidecar ({}); full value in {rel}", size(len)));
        }
        (full, evidence_captions(&json, scores))
    }
}

/// Renders a value's JSON (as written by `Value::to_json`) by its type.
fn render_value(v: &Json, options: Option<&[String]>, cap: usize) -> Full {
    let f64_of = |v: &Json, k: &str| v.get(k).and_then(Json::as_f64).unwrap_or(0.0);
    let str_of = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).unwrap_or("").to_string();
    let arr = |k: &str| v.get(k).and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut full = Full::default();
    let more = |notes: &mut Vec<String>, shown: usize, total: usize, what: &str| {
        if total > shown {
            notes.push(format!("showing first {shown} of {total} {what}"));
        }
    };
    match v.get("type").and_then(Json::as_str).unwrap_or("") {
        "TimedText" => {
            full.kind = "cues";
            let cues = arr("cues");
            full.cues = cues
                .iter()
                .take(cap)
                .map(|c| CueRow {
                    start: clock(f64_of(c, "start")),
                    end: clock(f64_of(c, "end")),
                    text: str_of(c, "text"),
                    score: c.get("score").and_then(Json::as_f64).map(|s| format!("{s:.3}")),
                    source: str_of(c, "source"),
                    ocr: c.get("bbox").is_some_and(|b| !b.is_null()),
                })
                .collect();
            more(&mut full.notes, full.cues.len(), cues.len(), "cues");
        }
        "Detections" => {
            full.kind = "detections";
            let frames = arr("frames");
            let mut totals: BTreeMap<String, usize> = BTreeMap::new();
            let mut with = 0;
            for fr in frames {
                let boxes = fr.get("boxes").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]);
                for b in boxes {
                    *totals.entry(str_of(b, "label")).or_default() += 1;
                }
                if boxes.is_empty() {
                    continue;
                }
                with += 1;
                if full.detections.len() < cap {
                    full.detections.push(DetRow { time: clock(f64_of(fr, "time")), count: boxes.len(), labels: label_counts(boxes) });
                }
            }
            full.label_totals = totals.iter().map(|(l, n)| format!("{l} ×{n}")).collect::<Vec<_>>().join(", ");
            full.notes.push(format!("{with} of {} frames have boxes", frames.len()));
            more(&mut full.notes, full.detections.len(), with, "frames with boxes");
        }
        "Choice" => {
            full.kind = "choice";
            full.options = option_rows(options, Some(v));
            full.choice = Some(choice_meta(v));
        }
        "Frames" => {
            full.kind = "times";
            let frames = arr("frames");
            full.times = frames.iter().take(cap.saturating_mul(4)).map(|f| clock(f64_of(f, "time"))).collect();
            if let Some(f) = frames.first() {
                full.notes.push(format!("{} frames, {}x{}", frames.len(), f64_of(f, "width"), f64_of(f, "height")));
            }
            more(&mut full.notes, full.times.len(), frames.len(), "frames");
        }
        "Frame" => {
            full.kind = "text";
            full.text = format!("frame at {} ({}x{})", clock(f64_of(v, "time")), f64_of(v, "width"), f64_of(v, "height"));
        }
        "Text" => {
            full.kind = "pre";
            full.text = truncate_bytes(&str_of(v, "value"), SIDECAR_SHOW_BYTES as usize, &mut full.notes);
        }
        "Clip" => {
            full.kind = "times";
            let segs = arr("segments");
            full.times = segs.iter().take(cap).map(|r| format!("{}–{}", clock(f64_of(r, "start")), clock(f64_of(r, "end")))).collect();
            more(&mut full.notes, full.times.len(), segs.len(), "segments");
        }
        "Tracks" => {
            full.kind = "tracks";
            let tracks = arr("tracks");
            full.tracks = tracks
                .iter()
                .take(cap)
                .map(|t| {
                    let pts = t.get("points").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]);
                    let span = match (pts.first(), pts.last()) {
                        (Some(a), Some(b)) => {
                            format!("{}–{}", clock(f64_of(a, "time")), clock(f64_of(b, "time")))
                        }
                        _ => String::new(),
                    };
                    [t.get("id").map(Json::to_string).unwrap_or_default(), str_of(t, "label"), pts.len().to_string(), span]
                })
                .collect();
            more(&mut full.notes, full.tracks.len(), tracks.len(), "tracks");
        }
        "Masks" => {
            full.kind = "masks";
            let masks = arr("masks");
            full.masks = masks
                .iter()
                .take(cap)
                .map(|m| {
                    let area = f64_of(m, "width") * f64_of(m, "height");
                    let set: f64 = m
                        .get("runs")
                        .and_then(Json::as_array)
                        .map(|r| r.iter().skip(1).step_by(2).filter_map(Json::as_f64).sum())
                        .unwrap_or(0.0);
                    let cover = if area > 0.0 { format!("{:.1}%", 100.0 * set / area) } else { "–".into() };
                    [clock(f64_of(m, "time")), str_of(m, "label"), cover, format!("{:.2}", f64_of(m, "score"))]
                })
                .collect();
            more(&mut full.notes, full.masks.len(), masks.len(), "masks");
        }
        "Int" | "Number" | "Bool" => {
            full.kind = "text";
            full.text = v.get("value").map(Json::to_string).unwrap_or_default();
        }
        "Duration" => {
            full.kind = "text";
            full.text = format!("{:.3} s", f64_of(v, "seconds"));
        }
        "Timestamp" => {
            full.kind = "text";
            full.text = clock(f64_of(v, "seconds"));
        }
        _ => {
            full.kind = "pre";
            let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
            full.text = truncate_bytes(&pretty, SIDECAR_SHOW_BYTES as usize, &mut full.notes);
        }
    }
    full
}

/// Scores a step gave the frames it picked, as `(time, score)`: from a note
/// whose value lists `best: [{time, score}, …]` (`retrieve_frames`).
fn frame_scores(notes: &[super::StepNote]) -> Vec<(f64, f64)> {
    notes
        .iter()
        .filter_map(|n| n.value.get("best").and_then(Json::as_array))
        .flatten()
        .filter_map(|b| Some((b.get("time")?.as_f64()?, b.get("score")?.as_f64()?)))
        .collect()
}

/// Captions for a step's evidence images, in the order the trace writer
/// picks them; a frame the step scored (see [`frame_scores`]) shows its score.
fn evidence_captions(v: &Json, scores: &[(f64, f64)]) -> Vec<String> {
    let frames = v.get("frames").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let time = |f: &Json| f.get("time").and_then(Json::as_f64).unwrap_or(0.0);
    let at = |t: f64| match scores.iter().find(|(st, _)| (st - t).abs() < 1e-6) {
        Some((_, score)) => format!("{} · score {score:.3}", clock(t)),
        None => clock(t),
    };
    match v.get("type").and_then(Json::as_str).unwrap_or("") {
        "Frame" => vec![at(time(v))],
        "Frames" => pick_evenly(frames.len(), ARTIFACTS_PER_STEP).into_iter().map(|i| at(time(&frames[i]))).collect(),
        "Masks" => {
            // The masks the trace writer drew: those whose runs cover their size.
            let all = v.get("masks").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]);
            let masks: Vec<&Json> = all
                .iter()
                .filter(|m| {
                    let runs = m
                        .get("runs")
                        .and_then(Json::as_array)
                        .and_then(|r| r.iter().map(Json::as_u64).try_fold(0u64, |acc, x| acc.checked_add(x?)));
                    let size = m
                        .get("width")
                        .and_then(Json::as_u64)
                        .zip(m.get("height").and_then(Json::as_u64))
                        .and_then(|(w, h)| w.checked_mul(h));
                    runs.is_some() && runs == size
                })
                .collect();
            pick_evenly(masks.len(), ARTIFACTS_PER_STEP)
                .into_iter()
                .map(|i| format!("{} · {} mask", clock(time(masks[i])), masks[i].get("label").and_then(Json::as_str).unwrap_or("?")))
                .collect()
        }
        "Detections" => {
            let with: Vec<&Json> =
                frames.iter().filter(|f| f.get("boxes").and_then(Json::as_array).is_some_and(|b| !b.is_empty())).collect();
            pick_evenly(with.len(), ARTIFACTS_PER_STEP)
                .into_iter()
                .map(|i| {
                    let boxes = with[i].get("boxes").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]);
                    format!("{} · {}", clock(time(with[i])), label_counts(boxes))
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// `person ×2 (0.91), car (0.55)`: labels with counts and best score.
fn label_counts(boxes: &[Json]) -> String {
    let mut by: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for b in boxes {
        let e = by.entry(b.get("label").and_then(Json::as_str).unwrap_or("?")).or_insert((0, f64::NEG_INFINITY));
        e.0 += 1;
        e.1 = e.1.max(b.get("score").and_then(Json::as_f64).unwrap_or(0.0));
    }
    by.iter().map(|(l, (n, s))| if *n > 1 { format!("{l} ×{n} ({s:.2})") } else { format!("{l} ({s:.2})") }).collect::<Vec<_>>().join(", ")
}

/// One row per option, scores drawn as bars, the chosen one marked.
fn option_rows(options: Option<&[String]>, choice: Option<&Json>) -> Vec<OptionRow> {
    let scores: Vec<f64> = choice
        .and_then(|c| c.get("scores"))
        .and_then(Json::as_array)
        .map(|a| a.iter().map(|s| s.as_f64().unwrap_or(f64::NAN)).collect())
        .unwrap_or_default();
    let index = choice.and_then(|c| c.get("index")).and_then(Json::as_u64).map(|i| i as usize);
    let chosen_text = choice.and_then(|c| c.get("option")).and_then(Json::as_str);
    let n = options.map_or(0, <[String]>::len).max(scores.len()).max(index.map_or(0, |i| i + 1));
    let finite = scores.iter().copied().filter(|s| s.is_finite());
    let lo = finite.clone().fold(0.0, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    (0..n)
        .map(|i| {
            let text = options.and_then(|o| o.get(i)).map(String::as_str).or(if index == Some(i) { chosen_text } else { None });
            let score = scores.get(i).copied().filter(|s| s.is_finite());
            let bar = score.map_or(0.0, |s| if hi > lo { (s - lo) / (hi - lo) * 100.0 } else { 100.0 });
            OptionRow {
                index: i,
                text: text.unwrap_or("").to_string(),
                score: score.map(|s| format!("{s:.3}")),
                bar: format!("{bar:.1}"),
                chosen: index == Some(i),
            }
        })
        .collect()
}

fn choice_meta(v: &Json) -> ChoiceMeta {
    ChoiceMeta {
        index: v.get("index").and_then(Json::as_u64).unwrap_or(0) as usize,
        confidence: v.get("confidence").and_then(Json::as_f64).map_or_else(String::new, |c| format!("{c:.3}")),
        method: v.get("method").and_then(Json::as_str).unwrap_or("").to_string(),
    }
}

/// The video as `Value::Video(..).to_json()` wrote it; absent fields stay blank.
fn video_view(v: &Json) -> VideoView {
    let s = |v: &Json| match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    };
    let info = v.get("info").unwrap_or(&Json::Null);
    let num = |k: &str| info.get(k).and_then(Json::as_f64);
    let hash = v.get("hash").map(s).unwrap_or_default();
    let streams = info.get("streams").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]);
    VideoView {
        path: v.get("path").map(s).unwrap_or_default(),
        duration: num("duration").map_or_else(String::new, |d| format!("{} ({d:.2} s)", clock(d))),
        resolution: match (num("width"), num("height")) {
            (Some(w), Some(h)) => format!("{w}x{h}"),
            _ => String::new(),
        },
        fps: num("fps").map_or_else(String::new, |f| format!("{f:.3}")),
        codec: info.get("video_codec").map(s).unwrap_or_default(),
        format: info.get("format").map(s).unwrap_or_default(),
        hash: hash.chars().take(12).collect(),
        hash_full: hash,
        frames: info.get("frame_count").map(s).unwrap_or_default(),
        streams: streams
            .iter()
            .map(|st| {
                let lang = st.get("language").and_then(Json::as_str).map(|l| format!(" [{l}]")).unwrap_or_default();
                format!(
                    "#{} {} {}{lang}",
                    st.get("index").map(s).unwrap_or_default(),
                    st.get("kind").map(s).unwrap_or_default(),
                    st.get("codec").map(s).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        subtitles: v.get("subtitles").map(s).unwrap_or_default(),
    }
}

fn link(id: &str) -> Link {
    Link { id: id.to_string(), anchor: anchor(id) }
}

/// `step-<id>`; characters that cannot appear in an HTML id become `_`.
fn anchor(id: &str) -> String {
    format!("step-{}", id.chars().map(|c| if c.is_whitespace() || c == '#' { '_' } else { c }).collect::<String>())
}

fn cache_class(cache: &str) -> &'static str {
    match cache {
        "miss" => "c-miss",
        "memory" => "c-memory",
        "disk" => "c-disk",
        "off" => "c-off",
        _ => "c-other",
    }
}

/// A duration in milliseconds, in the unit that reads best.
fn ms(x: f64) -> String {
    if !x.is_finite() || x < 0.0 {
        "?".into()
    } else if x == 0.0 {
        "0 ms".into()
    } else if x < 10.0 {
        format!("{x:.2} ms")
    } else if x < 1000.0 {
        format!("{x:.0} ms")
    } else if x < 60_000.0 {
        format!("{:.2} s", x / 1000.0)
    } else {
        format!("{:.0} min {:.0} s", (x / 60_000.0).floor(), (x % 60_000.0) / 1000.0)
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.0} KB", bytes as f64 / 1024.0)
    }
}

/// `s` cut to at most `max` bytes (at a character boundary), with a note when cut.
fn truncate_bytes(s: &str, max: usize, notes: &mut Vec<String>) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    notes.push(format!("truncated: showing the first {} of {}", size(end as u64), size(s.len() as u64)));
    format!("{}\n…", &s[..end])
}

/// `YYYY-MM-DD HH:MM:SS UTC` for milliseconds since the Unix epoch.
/// `YYYY-MM-DD HH:MM:SS UTC` of a Unix time in milliseconds.
pub fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_251_199_000), "2024-02-29 23:59:59 UTC");
    }

    #[test]
    fn option_bars_scale_to_the_best() {
        let choice =
            serde_json::json!({"type": "Choice", "index": 1, "option": "b", "confidence": 0.7, "scores": [0.2, 0.7, 0.1], "method": "m"});
        let opts = ["a".to_string(), "b".to_string(), "c".to_string()];
        let rows = option_rows(Some(&opts), Some(&choice));
        assert_eq!(rows.len(), 3);
        assert!(rows[1].chosen && !rows[0].chosen);
        assert_eq!(rows[1].bar, "100.0");
        assert_eq!(rows[2].text, "c");
    }

    #[test]
    fn anchors_have_no_whitespace() {
        assert_eq!(anchor("s5[2].s1"), "step-s5[2].s1");
        assert_eq!(anchor("a b#c"), "step-a_b_c");
    }
}
