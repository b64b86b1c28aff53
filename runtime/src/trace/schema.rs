//! The on-disk trace format (`trace.json`), versioned by [`SCHEMA`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Schema identifier written into every trace; bump the suffix on breaking changes.
pub const SCHEMA: &str = "vprog.trace/2";

/// Schemas [`read_trace`](super::read_trace) reads: `vprog.trace/1` kept the
/// planner's record in a top-level `planner` field, now the extension
/// `planner`.
pub const READABLE: [&str; 2] = ["vprog.trace/1", SCHEMA];

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trace {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Unique id of this run; every sidecar and artifact file name starts with it.
    pub run_id: String,
    /// vprog version that wrote it.
    pub vprog_version: String,
    /// When the run finished (milliseconds since the Unix epoch).
    pub created_unix_ms: u64,
    /// `ok` or `failed`.
    pub status: String,
    /// Wall time of the run in milliseconds.
    pub wall_ms: f64,
    /// The program.
    pub program: ProgramInfo,
    /// The implicit inputs.
    pub inputs: InputsInfo,
    /// The answer, when the run succeeded.
    pub answer: Option<AnswerInfo>,
    /// The error, when it failed.
    pub error: Option<ErrorInfo>,
    /// What the optimizer did: (rule, nodes changed).
    pub optimizer: Vec<(String, usize)>,
    /// Every step in execution order.
    pub steps: Vec<TraceStep>,
    /// Records of the stages before the run, by name, each versioned by its
    /// own writer and stored as written: `planner` (how the program was
    /// planned, `vprog ask`). The runtime does not read them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// The planner record of a `vprog.trace/1` trace, never written:
    /// [`read_trace`](super::read_trace) moves it into `extensions`, so it is
    /// `None` in every trace read that way.
    #[serde(default, rename = "planner", skip_serializing)]
    pub legacy_planner: Option<serde_json::Value>,
}

/// The program that ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProgramInfo {
    /// File it was read from, if any.
    pub file: Option<String>,
    /// Source text as written.
    pub source: String,
    /// Canonical form.
    pub canonical: String,
}

/// The implicit inputs.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct InputsInfo {
    /// The video: path, hash, probe info, subtitles.
    pub video: Option<serde_json::Value>,
    /// The question.
    pub question: Option<String>,
    /// The options.
    pub options: Option<Vec<String>>,
}

/// The answer and the steps it rests on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerInfo {
    /// Type of the answer.
    #[serde(rename = "type")]
    pub ty: String,
    /// One-line summary.
    pub summary: String,
    /// Full value as JSON.
    pub value: serde_json::Value,
    /// The step that computed it.
    pub step: Option<String>,
    /// Every step it depends on.
    pub supporting_steps: Vec<String>,
}

/// Why a run failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The message.
    pub message: String,
    /// The failing step, if one failed.
    pub step: Option<String>,
    /// Its source position.
    pub line: Option<usize>,
    /// Its source column.
    pub column: Option<usize>,
}

/// A source position.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceStep {
    /// Step id.
    pub id: String,
    /// Module name or node kind.
    pub op: String,
    /// Module version.
    pub version: Option<String>,
    /// Canonical source text.
    pub text: String,
    /// Names bound to the step.
    pub bindings: Vec<String>,
    /// Where it was written (absent for implicit inputs).
    pub position: Option<Position>,
    /// Identical expressions merged into this step.
    pub merged: Vec<Position>,
    /// Static type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Constant arguments, as JSON.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Inputs: slot and producing step.
    pub inputs: Vec<StepInput>,
    /// Content-addressed cache key.
    pub key: String,
    /// `ok`, `failed` or `cancelled`.
    pub status: String,
    /// `miss`, `memory`, `disk` or `off`.
    pub cache: String,
    /// Start offset from the run's start, ms.
    pub started_ms: f64,
    /// Duration, ms.
    pub duration_ms: f64,
    /// For a step served from memory: how long its value took when it was
    /// first computed in this process, ms, and when (Unix ms). An `ask`
    /// trace re-runs the chosen program from the cache; these say where the
    /// time went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_ms: Option<f64>,
    /// When the value was first computed, milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_unix_ms: Option<u64>,
    /// Error message, when it failed.
    pub error: Option<String>,
    /// What the module noted about the call, in order (a cache hit shows the computing call's notes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<StepNote>,
    /// Output summary and sidecar file.
    pub output: Option<OutputInfo>,
    /// Evidence images, relative to the trace directory.
    pub artifacts: Vec<String>,
    /// For maps: elements iterated and kept.
    pub elements: Option<(usize, usize)>,
    /// For maps: the per-element steps.
    pub children: Vec<TraceStep>,
}

/// A module's note about one call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepNote {
    /// What it is about.
    pub key: String,
    /// The note.
    pub value: serde_json::Value,
}

/// One input edge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepInput {
    /// The parameter (or list slot) it fills.
    pub slot: String,
    /// The producing step's id.
    pub step: String,
}

/// Where a step's output is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputInfo {
    /// Type of the value.
    #[serde(rename = "type")]
    pub ty: String,
    /// One-line summary.
    pub summary: String,
    /// Sidecar JSON with the full value, relative to the trace directory.
    pub file: String,
}

impl Trace {
    /// Every step, map children included, depth first.
    pub fn all_steps(&self) -> Vec<&TraceStep> {
        fn walk<'a>(steps: &'a [TraceStep], out: &mut Vec<&'a TraceStep>) {
            for s in steps {
                out.push(s);
                walk(&s.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }
}
