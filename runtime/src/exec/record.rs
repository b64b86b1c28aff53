//! What the executor records about each step (the raw material of the trace).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use vprog_grammar::Span;

use crate::cache::CacheStatus;
use crate::types::Type;
use crate::value::Value;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It produced its output.
    Ok,
    /// It failed; the run stopped.
    Failed,
    /// Another step failed first, so this one was stopped or never started.
    Cancelled,
}

/// One executed (or attempted) step.
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// Id in the trace: `s3`, `video`, or `s5[2].s1` inside a map.
    pub id: String,
    /// Module name, or the node kind (`const`, `list`, `map`, `input:video`).
    pub op: String,
    /// Module version, for module calls.
    pub version: Option<String>,
    /// Canonical source text of the expression.
    pub text: String,
    /// Names bound to it.
    pub bindings: Vec<String>,
    /// Where it was written.
    pub span: Span,
    /// Spans of identical expressions merged into it.
    pub merged: Vec<Span>,
    /// Static type.
    pub ty: Type,
    /// Constant arguments (defaults included; variadic ones as `#0`, `#1`, ...).
    pub params: BTreeMap<String, Value>,
    /// (slot, producing step id) for every input.
    pub inputs: Vec<(String, String)>,
    /// Content-addressed key (hex).
    pub key: String,
    /// The output, when it succeeded.
    pub output: Option<Value>,
    /// How it ended.
    pub status: StepStatus,
    /// Where the output came from.
    pub cache: CacheStatus,
    /// When it started, from the start of the run.
    pub started: Duration,
    /// How long it took.
    pub duration: Duration,
    /// For a cache hit: when and how fast the value was first computed in
    /// this process (see [`crate::cache::Computed`]).
    pub computed: Option<crate::cache::Computed>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// What the module noted about the call (see [`crate::Notes`]); a cache hit shows the notes of the call that computed it.
    pub notes: Vec<(String, serde_json::Value)>,
    /// For maps: the steps run for each element.
    pub children: Vec<StepRecord>,
    /// For maps: how many elements there were, and how many were kept.
    pub elements: Option<(usize, usize)>,
}
