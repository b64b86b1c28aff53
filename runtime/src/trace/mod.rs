//! The audit trace: a directory with `trace.json` (schema [`SCHEMA`]), one
//! sidecar JSON per step output under `outputs/`, and evidence images under
//! `artifacts/`.
//!
//! Writes are atomic at the level of the whole trace: every file of a run is
//! named after the run id, and `trace.json` is replaced last by a rename. A
//! crash or kill at any moment leaves either the previous trace or the new
//! one, each complete; files of older runs are removed only after the switch.

mod artifacts;
pub mod report;
pub mod schema;
pub mod text;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use artifacts::{ARTIFACTS_PER_STEP, ARTIFACTS_PER_TRACE, ARTIFACT_MAX_SIDE, MAP_ELEMENTS_WITH_EVIDENCE};
pub use schema::*;
use vprog_grammar::{line_col, LineIndex, Span};

use crate::exec::{RunInputs, RunOutcome, StepRecord};
use crate::value::{Frame, Value};
use artifacts::{pick_evenly, ArtifactJob};

/// A directory under `base` that no earlier run used, named after the UTC
/// time: `base/YYYYMMDD-HHMMSS`, with `-2`, `-3`, ... when several runs start
/// in the same second.
pub fn fresh_dir(base: &Path) -> PathBuf {
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    // "2026-12-07 01:02:03 UTC" -> "20261207-010203"
    let stamp: String = report::utc(unix_ms)
        .trim_end_matches(" UTC")
        .chars()
        .filter_map(|c| match c {
            '-' | ':' => None,
            ' ' => Some('-'),
            c => Some(c),
        })
        .collect();
    (1..)
        .map(|n| base.join(if n == 1 { stamp.clone() } else { format!("{stamp}-{n}") }))
        .find(|p| !p.exists())
        .unwrap_or_else(|| base.join(stamp))
}

/// Failing to write or read a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("{path}: cannot write image: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `trace.json` is not a trace this version understands.
    #[error("{path}: not a vprog trace: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The program side of a trace.
pub struct TraceProgram<'a> {
    /// File the program came from.
    pub file: Option<&'a str>,
    /// Source as written.
    pub source: &'a str,
    /// Canonical form.
    pub canonical: &'a str,
    /// Optimizer report.
    pub optimizer: &'a [(&'static str, usize)],
    /// Records of the stages before the run, by name (the planner's:
    /// `planner`), stored as given.
    pub extensions: BTreeMap<String, serde_json::Value>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TraceError + '_ {
    move |source| TraceError::Io { path: path.to_path_buf(), source }
}

/// Writes the trace of `outcome` into `dir` (created if needed). Returns the
/// path of `trace.json`.
pub fn write_trace(dir: &Path, program: &TraceProgram<'_>, inputs: &RunInputs, outcome: &RunOutcome) -> Result<PathBuf, TraceError> {
    let outputs_dir = dir.join("outputs");
    let artifacts_dir = dir.join("artifacts");
    std::fs::create_dir_all(&outputs_dir).map_err(io_err(&outputs_dir))?;
    std::fs::create_dir_all(&artifacts_dir).map_err(io_err(&artifacts_dir))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let run_id = format!("r{}-{:04x}", now.as_millis(), (now.subsec_nanos() ^ std::process::id()) & 0xffff);

    // Step outputs by id, to find the frames that detections were made on.
    let mut by_id: HashMap<&str, &StepRecord> = HashMap::new();
    index(&outcome.steps, &mut by_id);
    let mut jobs = Vec::new();
    let lines = LineIndex::new(program.source);
    let mut w = Writer {
        dir,
        lines: &lines,
        by_id: &by_id,
        jobs: &mut jobs,
        files: HashSet::new(),
        images_left: ARTIFACTS_PER_TRACE,
        pixel_hashes: HashMap::new(),
    };
    let steps = outcome.steps.iter().map(|s| w.step(s, true)).collect::<Result<Vec<_>, _>>()?;
    let files = std::mem::take(&mut w.files);
    artifacts::write_all(jobs).map_err(|(path, reason)| TraceError::Image { path, reason })?;

    let pos = |span: Span| {
        let lc = line_col(program.source, span.start);
        (lc.line, lc.col)
    };
    let (status, answer, error) = match &outcome.result {
        Ok(v) => (
            "ok",
            Some(AnswerInfo {
                ty: v.type_of().to_string(),
                summary: v.summary(),
                value: v.to_json(),
                step: outcome.answer_step.clone(),
                supporting_steps: outcome.supporting_steps.clone(),
            }),
            None,
        ),
        Err(e) => {
            let p = e.span().map(pos);
            (
                "failed",
                None,
                Some(ErrorInfo {
                    message: e.to_string(),
                    step: e.step().map(str::to_string),
                    line: p.map(|p| p.0),
                    column: p.map(|p| p.1),
                }),
            )
        }
    };
    let trace = Trace {
        schema: SCHEMA.to_string(),
        run_id: run_id.clone(),
        vprog_version: env!("CARGO_PKG_VERSION").to_string(),
        created_unix_ms: now.as_millis() as u64,
        status: status.to_string(),
        wall_ms: outcome.wall.as_secs_f64() * 1000.0,
        program: ProgramInfo {
            file: program.file.map(str::to_string),
            source: program.source.to_string(),
            canonical: program.canonical.to_string(),
        },
        inputs: InputsInfo {
            video: inputs.video.as_ref().map(|v| Value::Video(v.clone()).to_json()),
            question: inputs.question.clone(),
            options: inputs.options.clone(),
        },
        answer,
        error,
        optimizer: program.optimizer.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
        steps,
        extensions: program.extensions.clone(),
        legacy_planner: None,
    };
    let path = dir.join("trace.json");
    let json = serde_json::to_vec_pretty(&trace).map_err(|e| TraceError::Format { path: path.clone(), reason: e.to_string() })?;
    atomic_write(&path, &json)?;
    remove_unreferenced(&outputs_dir, "outputs", &files);
    remove_unreferenced(&artifacts_dir, "artifacts", &files);
    Ok(path)
}

/// Reads `trace.json` from a trace directory.
pub fn read_trace(dir: &Path) -> Result<Trace, TraceError> {
    let path = if dir.is_dir() { dir.join("trace.json") } else { dir.to_path_buf() };
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    let mut trace: Trace = serde_json::from_slice(&bytes).map_err(|e| TraceError::Format { path: path.clone(), reason: e.to_string() })?;
    if !READABLE.contains(&trace.schema.as_str()) {
        return Err(TraceError::Format { path, reason: format!("schema `{}`, this vprog reads {}", trace.schema, READABLE.join(" and ")) });
    }
    if let Some(planner) = trace.legacy_planner.take() {
        trace.extensions.entry("planner".into()).or_insert(planner);
    }
    Ok(trace)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), TraceError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| TraceError::Io { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// Removes the files of `dir` (`sub` inside the trace) that this trace does
/// not reference: those of an earlier run into the same directory.
fn remove_unreferenced(dir: &Path, sub: &str, files: &HashSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        if !files.contains(&format!("{sub}/{}", e.file_name().to_string_lossy())) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The element index of a map's child step: `s3[12].s1` under `s3` is 12.
pub(crate) fn element_index(map_id: &str, child_id: &str) -> Option<usize> {
    child_id.strip_prefix(map_id)?.strip_prefix('[')?.split_once(']')?.0.parse().ok()
}

fn index<'a>(steps: &'a [StepRecord], out: &mut HashMap<&'a str, &'a StepRecord>) {
    for s in steps {
        out.insert(&s.id, s);
        index(&s.children, out);
    }
}

/// One evidence image to write: the frame, boxes to draw, a mask to tint.
type Evidence = (Frame, Vec<crate::value::BBox>, Option<crate::value::Mask>);

struct Writer<'a> {
    dir: &'a Path,
    lines: &'a LineIndex<'a>,
    by_id: &'a HashMap<&'a str, &'a StepRecord>,
    jobs: &'a mut Vec<ArtifactJob>,
    /// Files written (`outputs/…`, `artifacts/…`): each content hash once.
    files: HashSet<String>,
    /// Distinct evidence images still allowed ([`ARTIFACTS_PER_TRACE`]).
    images_left: usize,
    /// BLAKE3 of frame pixels by buffer address: identical cached frames
    /// share one buffer and are hashed once.
    pixel_hashes: HashMap<(usize, usize), blake3::Hash>,
}

impl Writer<'_> {
    /// The trace record of `s`; `evidence`: whether its frames may be saved
    /// as images (a map's elements beyond the sampled ones get none).
    fn step(&mut self, s: &StepRecord, evidence: bool) -> Result<TraceStep, TraceError> {
        let pos = |span: Span| {
            let lc = self.lines.line_col(span.start);
            Position { line: lc.line, column: lc.col }
        };
        let mut artifacts = Vec::new();
        let output = match &s.output {
            Some(v) => {
                let json = serde_json::to_vec(&v.to_json())
                    .map_err(|e| TraceError::Format { path: self.dir.join("outputs"), reason: e.to_string() })?;
                let rel = format!("outputs/{}.json", &blake3::hash(&json).to_hex()[..32]);
                // Named by content: a file already there (an earlier run's)
                // holds the same bytes and is not rewritten, so the earlier
                // trace stays whole until the new trace.json replaces it.
                let path = self.dir.join(&rel);
                if self.files.insert(rel.clone()) && !path.is_file() {
                    atomic_write(&path, &json)?;
                }
                if evidence {
                    for (frame, boxes, mask) in self.evidence(s, v) {
                        let rel = format!("artifacts/{}.jpg", self.artifact_hash(&frame, &boxes, mask.as_ref()));
                        if !self.files.contains(&rel) {
                            if self.images_left == 0 {
                                break;
                            }
                            self.images_left -= 1;
                            self.files.insert(rel.clone());
                            let path = self.dir.join(&rel);
                            if !path.is_file() {
                                self.jobs.push(ArtifactJob { path, frame, boxes, mask });
                            }
                        }
                        artifacts.push(rel);
                    }
                }
                Some(OutputInfo { ty: v.type_of().to_string(), summary: v.summary(), file: rel })
            }
            None => None,
        };
        // A map's elements: evidence images for an even sample of them.
        let sampled: HashSet<usize> = match s.elements {
            Some((n, _)) => pick_evenly(n, MAP_ELEMENTS_WITH_EVIDENCE).into_iter().collect(),
            None => HashSet::new(),
        };
        let children = s
            .children
            .iter()
            .map(|c| {
                let keep = evidence && element_index(&s.id, &c.id).is_none_or(|i| sampled.contains(&i));
                self.step(c, keep)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TraceStep {
            id: s.id.clone(),
            op: s.op.clone(),
            version: s.version.clone(),
            text: s.text.clone(),
            bindings: s.bindings.clone(),
            position: (!s.op.starts_with("input:")).then(|| pos(s.span)),
            merged: s.merged.iter().map(|sp| pos(*sp)).collect(),
            ty: s.ty.to_string(),
            params: s.params.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            inputs: s.inputs.iter().map(|(slot, step)| StepInput { slot: slot.clone(), step: step.clone() }).collect(),
            key: s.key.clone(),
            status: serde_json::to_value(s.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            cache: serde_json::to_value(s.cache).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            started_ms: s.started.as_secs_f64() * 1000.0,
            duration_ms: s.duration.as_secs_f64() * 1000.0,
            computed_ms: s.computed.map(|c| c.duration.as_secs_f64() * 1000.0),
            computed_unix_ms: s.computed.map(|c| c.unix_ms),
            error: s.error.clone(),
            notes: s.notes.iter().map(|(key, value)| StepNote { key: key.clone(), value: value.clone() }).collect(),
            output,
            artifacts,
            elements: s.elements,
            children,
        })
    }

    /// The name of an evidence image: BLAKE3 of what it shows (the frame's
    /// pixels and size, the boxes, the mask, the image size limit).
    fn artifact_hash(&mut self, frame: &Frame, boxes: &[crate::value::BBox], mask: Option<&crate::value::Mask>) -> String {
        let buffer = (frame.rgb.as_ptr() as usize, frame.rgb.len());
        let pixels = *self.pixel_hashes.entry(buffer).or_insert_with(|| blake3::hash(&frame.rgb));
        let mut h = blake3::Hasher::new();
        h.update(pixels.as_bytes()).update(&frame.width.to_le_bytes()).update(&frame.height.to_le_bytes());
        h.update(&ARTIFACT_MAX_SIDE.to_le_bytes());
        h.update(serde_json::to_string(boxes).unwrap_or_default().as_bytes());
        h.update(mask.map(|m| serde_json::to_string(m).unwrap_or_default()).unwrap_or_default().as_bytes());
        h.finalize().to_hex()[..32].to_string()
    }

    /// Frames to save for a step's output, with the boxes and the mask to draw on them.
    fn evidence(&self, s: &StepRecord, v: &Value) -> Vec<Evidence> {
        match v {
            Value::Frame(f) => vec![(f.clone(), Vec::new(), None)],
            Value::Frames(fs) => pick_evenly(fs.len(), ARTIFACTS_PER_STEP).into_iter().map(|i| (fs[i].clone(), Vec::new(), None)).collect(),
            Value::Masks(m) => {
                let frames = self.source_frames(s, 4);
                // A malformed mask (from a plugin) gets no image rather than failing the trace.
                let drawable: Vec<_> = m.masks.iter().filter(|k| k.is_well_formed()).collect();
                pick_evenly(drawable.len(), ARTIFACTS_PER_STEP)
                    .into_iter()
                    .filter_map(|i| {
                        let mask = drawable[i];
                        let frame = frames.iter().find(|f| (f.time - mask.time).abs() < 1e-3)?;
                        Some((frame.clone(), Vec::new(), Some(mask.clone())))
                    })
                    .collect()
            }
            Value::Detections(d) => {
                let frames = self.source_frames(s, 4);
                let with_boxes: Vec<_> = d.frames.iter().filter(|f| !f.boxes.is_empty()).collect();
                pick_evenly(with_boxes.len(), ARTIFACTS_PER_STEP)
                    .into_iter()
                    .filter_map(|i| {
                        let fd = with_boxes[i];
                        let frame = frames.iter().find(|f| (f.time - fd.time).abs() < 1e-3)?;
                        Some((frame.clone(), fd.boxes.clone(), None))
                    })
                    .collect()
            }
            Value::TimedText(t) if t.cues.iter().any(|c| c.bbox.is_some()) => {
                let frames = self.source_frames(s, 4);
                let mut out: Vec<Evidence> = Vec::new();
                for f in frames {
                    let boxes: Vec<_> = t
                        .cues
                        .iter()
                        .filter(|c| c.start <= f.time + 1e-3 && f.time <= c.end + 1e-3)
                        .filter_map(|c| c.bbox.clone())
                        .collect();
                    if !boxes.is_empty() {
                        out.push((f, boxes, None));
                    }
                }
                let keep = pick_evenly(out.len(), ARTIFACTS_PER_STEP);
                keep.into_iter().map(|i| out[i].clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The frames a step's boxes refer to: the nearest `Frames` among its inputs.
    fn source_frames(&self, s: &StepRecord, depth: usize) -> Vec<Frame> {
        if depth == 0 {
            return Vec::new();
        }
        for (_, src) in &s.inputs {
            let Some(rec) = self.by_id.get(src.as_str()) else { continue };
            match &rec.output {
                Some(Value::Frames(fs)) => return fs.as_ref().clone(),
                Some(Value::Frame(f)) => return vec![f.clone()],
                _ => {
                    let found = self.source_frames(rec, depth - 1);
                    if !found.is_empty() {
                        return found;
                    }
                }
            }
        }
        Vec::new()
    }
}
