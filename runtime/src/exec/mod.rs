//! Executing a logical plan on tokio.
//!
//! Steps whose inputs are ready run at once, so independent steps overlap;
//! module calls go through the [`Cache`] (identical steps compute once);
//! each call has a timeout; the first failure cancels every other step and
//! is reported with the failing step's id, module and source text. Every
//! step, whatever its fate, leaves a [`StepRecord`].

mod batch;
mod elements;
pub mod interrupt;
mod record;
mod summary;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use petgraph::stable_graph::NodeIndex;
use petgraph::Direction;
use std::future::Future;
use std::pin::Pin;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vprog_grammar::Span;

pub use record::{StepRecord, StepStatus};

use crate::cache::{Cache, CacheStatus};
use crate::dataflow::{fingerprints, Dataflow, Input, Op, Slot};
use crate::module::{Args, Device, ModuleError, ParamType, Progress, StepContext};
use crate::types::Type;
use crate::value::{Clip, Value, VideoRef};

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// Longest a single module call may take.
    pub step_timeout: Duration,
    /// Device for neural modules.
    pub device: Device,
    /// Show progress bars on stderr (only drawn when it is a terminal).
    pub progress: bool,
    /// Cancelled to stop every run of this executor (Ctrl-C, SIGTERM): the
    /// steps in flight stop between two pieces of work, and the run ends with
    /// [`ExecError::Interrupted`] and the records of the steps finished so far.
    pub interrupt: CancellationToken,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig { step_timeout: Duration::from_secs(600), device: Device::Cpu, progress: false, interrupt: CancellationToken::new() }
    }
}

/// The values of a program's implicit inputs.
#[derive(Debug, Clone, Default)]
pub struct RunInputs {
    /// `video`.
    pub video: Option<Arc<VideoRef>>,
    /// `question`.
    pub question: Option<String>,
    /// `options`.
    pub options: Option<Vec<String>>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program uses an input that was not given.
    #[error("the program uses `{0}`, but no {0} was given")]
    MissingInput(&'static str),
    /// Nothing ran: there was no valid program (e.g. every program a planner
    /// wrote was rejected by the checker).
    #[error("nothing ran: {0}")]
    NotRun(String),
    /// A module call failed.
    #[error("step {step} (`{text}`) failed: {source}")]
    StepFailed {
        /// Step id.
        step: String,
        /// Module name.
        module: String,
        /// Source text of the call.
        text: String,
        /// Where it was written.
        span: Span,
        /// The module's error.
        #[source]
        source: ModuleError,
    },
    /// A module call took longer than the step timeout.
    #[error("step {step} (`{text}`) timed out after {after:?}")]
    Timeout {
        /// Step id.
        step: String,
        /// Module name.
        module: String,
        /// Source text of the call.
        text: String,
        /// Where it was written.
        span: Span,
        /// The timeout.
        after: Duration,
    },
    /// A module returned a value of the wrong type.
    #[error("step {step} (`{module}`) returned {found}, but its declared type is {expected}")]
    InvalidOutput {
        /// Step id.
        step: String,
        /// Module name.
        module: String,
        /// Where it was written.
        span: Span,
        /// Declared type.
        expected: Type,
        /// What came back.
        found: Type,
    },
    /// The run was interrupted (Ctrl-C, SIGTERM) before it finished.
    #[error("interrupted; the steps finished before it are in the trace")]
    Interrupted,
    /// Steps were stopped because another step failed (that failure is the
    /// run's error; this one only ends the sibling steps of a map).
    #[error("stopped because another step failed")]
    Cancelled,
    /// A step could not run for another reason (a panic, a bad collection).
    #[error("step {step} (`{op}`) failed: {message}")]
    Internal {
        /// Step id.
        step: String,
        /// Module or node kind.
        op: String,
        /// Where it was written.
        span: Span,
        /// What happened.
        message: String,
    },
}

impl ExecError {
    /// The id of the step that failed, if one did.
    pub fn step(&self) -> Option<&str> {
        match self {
            ExecError::MissingInput(_) | ExecError::NotRun(_) | ExecError::Interrupted | ExecError::Cancelled => None,
            ExecError::StepFailed { step, .. }
            | ExecError::Timeout { step, .. }
            | ExecError::InvalidOutput { step, .. }
            | ExecError::Internal { step, .. } => Some(step),
        }
    }

    /// Where the failing step was written.
    pub fn span(&self) -> Option<Span> {
        match self {
            ExecError::MissingInput(_) | ExecError::NotRun(_) | ExecError::Interrupted | ExecError::Cancelled => None,
            ExecError::StepFailed { span, .. }
            | ExecError::Timeout { span, .. }
            | ExecError::InvalidOutput { span, .. }
            | ExecError::Internal { span, .. } => Some(*span),
        }
    }

    /// The error as a diagnostic (`vprog::step_failed`) pointing at the
    /// failing step, when one failed.
    pub fn to_diagnostic(&self) -> Option<vprog_grammar::Diagnostic> {
        let step = self.step().unwrap_or("?");
        let d = vprog_grammar::Diagnostic::error("vprog::step_failed", self.to_string(), self.span()?, format!("step {step} failed here"));
        Some(d.with_help(
            "the trace records every step that ran before the failure; completed steps are cached, so a rerun resumes from them",
        ))
    }
}

/// Everything a run produced.
pub struct RunOutcome {
    /// The answer, or why there is none.
    pub result: Result<Value, ExecError>,
    /// Every step in execution order (map iterations nested as children).
    pub steps: Vec<StepRecord>,
    /// The step whose value is the answer.
    pub answer_step: Option<String>,
    /// Steps the answer depends on, transitively, in execution order.
    pub supporting_steps: Vec<String>,
    /// Wall time of the run.
    pub wall: Duration,
}

/// Runs plans.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Arc<Cache>,
    config: ExecConfig,
    cpu: Arc<tokio::sync::Semaphore>,
    multi: Option<indicatif::MultiProgress>,
}

#[derive(Clone)]
struct Leaves {
    inputs: Arc<HashMap<Input, (Value, blake3::Hash)>>,
    element: Option<(Value, blake3::Hash)>,
    captures: Arc<Vec<(Value, blake3::Hash)>>,
    /// Disk-cache scope: the video's hash.
    scope: Arc<str>,
    t0: Instant,
    /// This run's stop signal: a child of the executor's interrupt,
    /// cancelled when a step fails; each step gets a child of its own.
    cancel: CancellationToken,
}

struct PlanRun {
    values: HashMap<NodeIndex, Value>,
    records: Vec<StepRecord>,
    ids: HashMap<NodeIndex, String>,
    error: Option<ExecError>,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

type StepOutcome = (NodeIndex, Result<Value, ExecError>, StepRecord);

impl Executor {
    /// An executor using `cache`.
    pub fn new(cache: Arc<Cache>, config: ExecConfig) -> Executor {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let multi = config.progress.then(|| indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()));
        Executor { inner: Arc::new(Inner { cache, config, cpu: Arc::new(tokio::sync::Semaphore::new(cores)), multi }) }
    }

    /// The cache this executor uses.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.inner.cache
    }

    /// Runs `plan` with `inputs`.
    pub async fn run(&self, plan: &Dataflow, inputs: &RunInputs) -> RunOutcome {
        let t0 = Instant::now();
        let mut leaf_inputs = HashMap::new();
        for n in plan.graph.node_indices() {
            let Op::Input(i) = plan.graph[n].op else { continue };
            let value = match i {
                Input::Video => inputs.video.clone().map(Value::Video),
                Input::Question => inputs.question.as_ref().map(Value::text),
                Input::Options => inputs.options.as_ref().map(|o| Value::List(Arc::new(o.iter().map(Value::text).collect()))),
            };
            let Some(value) = value else {
                return RunOutcome {
                    result: Err(ExecError::MissingInput(i.name())),
                    steps: Vec::new(),
                    answer_step: None,
                    supporting_steps: Vec::new(),
                    wall: t0.elapsed(),
                };
            };
            let key = value.content_hash();
            leaf_inputs.insert(i, (value, key));
        }
        let scope: Arc<str> = Arc::from(inputs.video.as_ref().map_or("no-video".to_string(), |v| v.hash.clone()));
        let cancel = self.inner.config.interrupt.child_token();
        let leaves = Leaves { inputs: Arc::new(leaf_inputs), element: None, captures: Arc::new(Vec::new()), scope, t0, cancel };
        let plan = Arc::new(plan.clone());
        let run = run_plan(self.inner.clone(), plan.clone(), String::new(), leaves).await;
        self.inner.cache.flush().await;

        let answer_step = run.ids.get(&plan.output).cloned();
        let mut support = HashSet::new();
        let mut stack = vec![plan.output];
        while let Some(n) = stack.pop() {
            if support.insert(n) {
                stack.extend(plan.graph.neighbors_directed(n, Direction::Incoming));
            }
        }
        let support_ids: HashSet<&String> = support.iter().filter_map(|n| run.ids.get(n)).collect();
        let supporting_steps = run.records.iter().filter(|r| support_ids.contains(&r.id)).map(|r| r.id.clone()).collect();
        let result = match run.error {
            Some(e) => Err(e),
            None => run.values.get(&plan.output).cloned().ok_or_else(|| ExecError::Internal {
                step: answer_step.clone().unwrap_or_default(),
                op: "answer".into(),
                span: plan.graph[plan.output].span,
                message: "the answer step produced no value".into(),
            }),
        };
        RunOutcome { result, steps: run.records, answer_step, supporting_steps, wall: t0.elapsed() }
    }
}

fn run_plan(inner: Arc<Inner>, plan: Arc<Dataflow>, prefix: String, leaves: Leaves) -> BoxFuture<'static, PlanRun> {
    Box::pin(async move {
        let order = plan.topological_order();
        let keys = fingerprints(&plan, &|op| match op {
            Op::Input(i) => leaves.inputs.get(i).map(|(_, k)| *k),
            Op::Element => leaves.element.as_ref().map(|(_, k)| *k),
            Op::Capture(i) => leaves.captures.get(*i).map(|(_, k)| *k),
            _ => None,
        });
        let mut ids = HashMap::with_capacity(order.len());
        let mut counter = 0;
        for n in &order {
            let id = match &plan.graph[*n].op {
                Op::Input(i) => i.name().to_string(),
                Op::Element => format!("{prefix}element"),
                Op::Capture(i) => format!("{prefix}capture{i}"),
                _ => {
                    counter += 1;
                    format!("{prefix}s{counter}")
                }
            };
            ids.insert(*n, id);
        }
        let mut pending: HashMap<NodeIndex, usize> =
            order.iter().map(|n| (*n, plan.graph.edges_directed(*n, Direction::Incoming).count())).collect();
        let mut ready: VecDeque<NodeIndex> = order.iter().copied().filter(|n| pending.get(n) == Some(&0)).collect();
        let mut values: HashMap<NodeIndex, Value> = HashMap::with_capacity(order.len());
        let mut records: HashMap<NodeIndex, StepRecord> = HashMap::with_capacity(order.len());
        let mut set: JoinSet<StepOutcome> = JoinSet::new();
        let mut tasks: HashMap<tokio::task::Id, NodeIndex> = HashMap::new();
        let mut error: Option<ExecError> = None;

        loop {
            while let Some(n) = ready.pop_front() {
                let key = keys.get(&n).copied().unwrap_or_else(|| blake3::hash(b""));
                let id = ids.get(&n).cloned().unwrap_or_default();
                let inputs: Vec<(Slot, Value, String)> = plan
                    .inputs(n)
                    .into_iter()
                    .filter_map(|(slot, src)| Some((slot, values.get(&src)?.clone(), ids.get(&src)?.clone())))
                    .collect();
                match &plan.graph[n].op {
                    // Trivial modules, and any step that is the only one able to run
                    // (nothing in flight, nothing else ready), run inline: a task of
                    // their own would buy no parallelism, only a hand-off between threads.
                    Op::Call { module, .. } if module.signature().inline || (set.is_empty() && ready.is_empty()) => {
                        // Raced against the stop signal: an interrupt ends the
                        // run at once, whatever the step's own check interval.
                        let fut = step(inner.clone(), plan.clone(), n, id, key, inputs, leaves.clone());
                        let done = tokio::select! {
                            biased;
                            () = leaves.cancel.cancelled() => None,
                            done = fut => Some(done),
                        };
                        match done {
                            Some((n, result, record)) => {
                                complete(&plan, n, result, record, &mut values, &mut records, &mut pending, &mut ready, &mut error)
                            }
                            None => {
                                error =
                                    Some(if inner.config.interrupt.is_cancelled() { ExecError::Interrupted } else { ExecError::Cancelled });
                                break;
                            }
                        }
                    }
                    Op::Call { .. } | Op::Map { .. } => {
                        let fut = step(inner.clone(), plan.clone(), n, id, key, inputs, leaves.clone());
                        let handle = set.spawn(fut);
                        tasks.insert(handle.id(), n);
                    }
                    _ => {
                        let (result, record) = evaluate_leaf(&plan, n, id, key, inputs, &leaves);
                        complete(&plan, n, result, record, &mut values, &mut records, &mut pending, &mut ready, &mut error);
                    }
                }
            }
            if error.is_some() {
                break;
            }
            let joined = tokio::select! {
                biased;
                () = leaves.cancel.cancelled(), if !set.is_empty() => {
                    error = Some(if inner.config.interrupt.is_cancelled() { ExecError::Interrupted } else { ExecError::Cancelled });
                    break;
                }
                joined = set.join_next_with_id() => joined,
            };
            match joined {
                None => break,
                Some(Ok((_, (n, result, record)))) => {
                    complete(&plan, n, result, record, &mut values, &mut records, &mut pending, &mut ready, &mut error)
                }
                Some(Err(join_error)) => {
                    let n = tasks.get(&join_error.id()).copied();
                    let (id, op, span) = n.map_or((String::new(), String::new(), Span::default()), |n| {
                        (ids.get(&n).cloned().unwrap_or_default(), plan.graph[n].op.name(), plan.graph[n].span)
                    });
                    let message =
                        if join_error.is_panic() { "the module panicked".to_string() } else { "the step was cancelled".to_string() };
                    if let Some(n) = n {
                        let mut rec =
                            blank_record(&plan, n, id.clone(), keys.get(&n).copied().unwrap_or_else(|| blake3::hash(b"")), Vec::new());
                        rec.status = StepStatus::Failed;
                        rec.error = Some(message.clone());
                        records.insert(n, rec);
                    }
                    error = Some(ExecError::Internal { step: id, op, span, message });
                }
            }
            if error.is_some() {
                break;
            }
        }
        if error.is_some() && inner.config.interrupt.is_cancelled() {
            // A step that stopped at a check inline reports its own
            // cancellation; the run's error is the interrupt.
            error = Some(ExecError::Interrupted);
        }
        if error.is_some() {
            // Blocking work of the steps still in flight stops at its next
            // check; their tasks are aborted and recorded as cancelled.
            leaves.cancel.cancel();
            set.shutdown().await;
        }
        let mut ordered = Vec::with_capacity(records.len());
        for n in &order {
            if matches!(plan.graph[*n].op, Op::Element | Op::Capture(_)) {
                continue;
            }
            match records.remove(n) {
                Some(r) => ordered.push(r),
                None => {
                    let key = keys.get(n).copied().unwrap_or_else(|| blake3::hash(b""));
                    let mut r = blank_record(&plan, *n, ids.get(n).cloned().unwrap_or_default(), key, Vec::new());
                    r.status = StepStatus::Cancelled;
                    ordered.push(r);
                }
            }
        }
        PlanRun { values, records: ordered, ids, error }
    })
}

#[allow(clippy::too_many_arguments)]
fn complete(
    plan: &Dataflow,
    n: NodeIndex,
    result: Result<Value, ExecError>,
    record: StepRecord,
    values: &mut HashMap<NodeIndex, Value>,
    records: &mut HashMap<NodeIndex, StepRecord>,
    pending: &mut HashMap<NodeIndex, usize>,
    ready: &mut VecDeque<NodeIndex>,
    error: &mut Option<ExecError>,
) {
    records.insert(n, record);
    match result {
        Ok(v) => {
            values.insert(n, v);
            for succ in plan.graph.neighbors_directed(n, Direction::Outgoing) {
                if let Some(p) = pending.get_mut(&succ) {
                    *p = p.saturating_sub(1);
                    if *p == 0 {
                        ready.push_back(succ);
                    }
                }
            }
        }
        Err(e) => {
            if error.is_none() {
                *error = Some(e);
            }
        }
    }
}

fn blank_record(plan: &Dataflow, n: NodeIndex, id: String, key: blake3::Hash, inputs: Vec<(String, String)>) -> StepRecord {
    let node = &plan.graph[n];
    let (version, params) = match &node.op {
        Op::Call { module, params, variadic } => {
            let mut p = params.clone();
            for (i, v) in variadic.iter().enumerate() {
                if let Some(v) = v {
                    p.insert(format!("#{i}"), v.clone());
                }
            }
            (Some(module.signature().version.to_string()), p)
        }
        _ => (None, BTreeMap::new()),
    };
    StepRecord {
        id,
        op: node.op.name(),
        version,
        text: node.text.clone(),
        bindings: node.bindings.clone(),
        span: node.span,
        merged: node.merged.clone(),
        ty: node.ty.clone(),
        params,
        inputs,
        key: key.to_hex().to_string(),
        output: None,
        status: StepStatus::Ok,
        cache: CacheStatus::Off,
        computed: None,
        started: Duration::ZERO,
        duration: Duration::ZERO,
        error: None,
        notes: Vec::new(),
        children: Vec::new(),
        elements: None,
    }
}

/// Inputs, constants, element, captures and lists: evaluated inline, no task.
fn evaluate_leaf(
    plan: &Dataflow,
    n: NodeIndex,
    id: String,
    key: blake3::Hash,
    inputs: Vec<(Slot, Value, String)>,
    leaves: &Leaves,
) -> (Result<Value, ExecError>, StepRecord) {
    let started = leaves.t0.elapsed();
    let node = &plan.graph[n];
    let value = match &node.op {
        Op::Input(i) => leaves.inputs.get(i).map(|(v, _)| v.clone()),
        Op::Const(v) => Some(v.clone()),
        Op::Element => leaves.element.as_ref().map(|(v, _)| v.clone()),
        Op::Capture(i) => leaves.captures.get(*i).map(|(v, _)| v.clone()),
        Op::List => Some(Value::List(Arc::new(inputs.iter().map(|(_, v, _)| v.clone()).collect()))),
        Op::Call { .. } | Op::Map { .. } => None,
    };
    let mut record = blank_record(plan, n, id.clone(), key, inputs.iter().map(|(s, _, src)| (s.to_string(), src.clone())).collect());
    record.started = started;
    let result =
        value.ok_or_else(|| ExecError::Internal { step: id, op: node.op.name(), span: node.span, message: "value missing".into() });
    match &result {
        Ok(v) => record.output = Some(v.clone()),
        Err(e) => {
            record.status = StepStatus::Failed;
            record.error = Some(e.to_string());
        }
    }
    (result, record)
}

async fn step(
    inner: Arc<Inner>,
    plan: Arc<Dataflow>,
    n: NodeIndex,
    id: String,
    key: blake3::Hash,
    inputs: Vec<(Slot, Value, String)>,
    leaves: Leaves,
) -> StepOutcome {
    let started = leaves.t0.elapsed();
    let clock = Instant::now();
    let mut record = blank_record(&plan, n, id.clone(), key, inputs.iter().map(|(s, _, src)| (s.to_string(), src.clone())).collect());
    record.started = started;
    let result = match &plan.graph[n].op {
        Op::Call { .. } => call(&inner, &plan, n, &id, key, inputs, &leaves, &mut record).await,
        Op::Map { .. } => map(&inner, &plan, n, &id, key, inputs, &leaves, &mut record).await,
        _ => Err(ExecError::Internal {
            step: id.clone(),
            op: plan.graph[n].op.name(),
            span: plan.graph[n].span,
            message: "not a task".into(),
        }),
    };
    record.duration = clock.elapsed();
    match &result {
        Ok(v) => record.output = Some(v.clone()),
        Err(e) => {
            // A failure inside a map is recorded on the inner step; the map
            // itself is marked failed with the same message. A step stopped
            // by an interrupt or by another step's failure is cancelled.
            let stopped =
                matches!(e, ExecError::StepFailed { source: ModuleError::Cancelled, .. } | ExecError::Cancelled | ExecError::Interrupted)
                    && leaves.cancel.is_cancelled();
            record.status = if stopped { StepStatus::Cancelled } else { StepStatus::Failed };
            record.error = Some(e.to_string());
        }
    }
    (n, result, record)
}

#[allow(clippy::too_many_arguments)]
async fn call(
    inner: &Arc<Inner>,
    plan: &Dataflow,
    n: NodeIndex,
    id: &str,
    key: blake3::Hash,
    inputs: Vec<(Slot, Value, String)>,
    leaves: &Leaves,
    record: &mut StepRecord,
) -> Result<Value, ExecError> {
    let node = &plan.graph[n];
    let Op::Call { module, params, variadic } = &node.op else {
        return Err(ExecError::Internal { step: id.into(), op: node.op.name(), span: node.span, message: "not a call".into() });
    };
    let sig = module.signature();
    let fail = |source: ModuleError| ExecError::StepFailed {
        step: id.to_string(),
        module: sig.name.to_string(),
        text: node.text.clone(),
        span: node.span,
        source,
    };
    let mut named = params.clone();
    let mut var = variadic.clone();
    for (slot, v, _) in inputs {
        match slot {
            Slot::Arg(name) => {
                let v = match sig.param_named(&name) {
                    Some(p) => {
                        let v = coerce(v, &p.ty);
                        check_range(p, &v).map_err(fail)?;
                        v
                    }
                    None => v,
                };
                named.insert(name, v);
            }
            Slot::Variadic(i) => {
                if let Some(s) = var.get_mut(i) {
                    *s = Some(v);
                }
            }
            _ => {}
        }
    }
    let args = Args::new(named, var.into_iter().flatten().collect());
    let progress = match &inner.multi {
        Some(m) => Progress::new(m.clone(), format!("{id} {}", sig.name)),
        None => Progress::hidden(),
    };
    let ctx = StepContext {
        step_id: id.to_string(),
        device: inner.config.device,
        progress,
        cpu: inner.cpu.clone(),
        notes: Default::default(),
        cancel: leaves.cancel.child_token(),
    };
    let timeout = inner.config.step_timeout;
    let outcome = inner
        .cache
        .get_or_compute(key, sig.cache, &leaves.scope, || async {
            match tokio::time::timeout(timeout, batch::call_batched(module, args, &ctx)).await {
                Ok(r) => r.map_err(Some),
                Err(_) => {
                    // The call's future is dropped; its blocking work stops at its next check.
                    ctx.cancel.cancel();
                    Err(None)
                }
            }
        })
        .await;
    ctx.progress.finish();
    record.notes = ctx.notes.take();
    // Notes are kept beside the value, so a cached step still shows how its output was made.
    let notes_key = blake3::Hasher::new().update(key.as_bytes()).update(b"notes").finalize();
    match &outcome {
        Ok((_, CacheStatus::Miss)) if !record.notes.is_empty() => {
            let json = serde_json::to_string(&record.notes).unwrap_or_default();
            inner.cache.put(notes_key, sig.cache, &leaves.scope, Value::text(json));
        }
        Ok((_, CacheStatus::Memory | CacheStatus::Disk)) => {
            if let Some((Value::Text(json), _)) = inner.cache.get(notes_key, sig.cache, &leaves.scope).await {
                record.notes = serde_json::from_str(&json).unwrap_or_default();
            }
        }
        _ => {}
    }
    let (value, status) = outcome.map_err(|e| match e {
        Some(m) => fail(m),
        None => ExecError::Timeout {
            step: id.to_string(),
            module: sig.name.to_string(),
            text: node.text.clone(),
            span: node.span,
            after: timeout,
        },
    })?;
    record.cache = status;
    if status == CacheStatus::Memory {
        record.computed = inner.cache.computed(&key);
    }
    if !value.conforms_to(&node.ty) {
        return Err(ExecError::InvalidOutput {
            step: id.to_string(),
            module: sig.name.to_string(),
            span: node.span,
            expected: node.ty.clone(),
            found: value.type_of(),
        });
    }
    Ok(value)
}

#[allow(clippy::too_many_arguments)]
async fn map(
    inner: &Arc<Inner>,
    plan: &Dataflow,
    n: NodeIndex,
    id: &str,
    key: blake3::Hash,
    inputs: Vec<(Slot, Value, String)>,
    leaves: &Leaves,
    record: &mut StepRecord,
) -> Result<Value, ExecError> {
    let node = &plan.graph[n];
    let Op::Map { body, output } = &node.op else {
        return Err(ExecError::Internal { step: id.into(), op: node.op.name(), span: node.span, message: "not a map".into() });
    };
    let internal = |message: String| ExecError::Internal { step: id.to_string(), op: "map".into(), span: node.span, message };
    let mut source = None;
    let mut captures = Vec::new();
    for (slot, v, _) in inputs {
        match slot {
            Slot::Source => source = Some(v),
            Slot::Capture(i) => captures.push((i, v)),
            _ => {}
        }
    }
    captures.sort_by_key(|(i, _)| *i);
    let source = source.ok_or_else(|| internal("map without a source".into()))?;
    let elements = elements::split(&source).map_err(internal)?;
    let capture_values: Arc<Vec<(Value, blake3::Hash)>> = Arc::new(
        captures
            .into_iter()
            .map(|(i, v)| {
                let k = blake3::Hasher::new()
                    .update(key.as_bytes())
                    .update(format!("capture{i}").as_bytes())
                    .update(v.content_hash().as_bytes())
                    .finalize();
                (v, k)
            })
            .collect(),
    );
    let body = Arc::new((**body).clone());
    // The map's key covers its source, captures and body: elements derive from it.
    let base = key;
    let mut set = JoinSet::new();
    // The elements' stop signal: a failing element stops its siblings, not
    // the rest of the run (the map's error reaches the run through its step).
    let elements_cancel = leaves.cancel.child_token();
    for (i, elem) in elements.iter().cloned().enumerate() {
        let elem_key = blake3::Hasher::new().update(base.as_bytes()).update(b"element").update(&(i as u64).to_le_bytes()).finalize();
        let sub =
            Leaves { element: Some((elem, elem_key)), captures: capture_values.clone(), cancel: elements_cancel.clone(), ..leaves.clone() };
        let fut = run_plan(inner.clone(), body.clone(), format!("{id}[{i}]."), sub);
        set.spawn(async move { (i, fut.await) });
    }
    let mut runs: Vec<Option<PlanRun>> = (0..elements.len()).map(|_| None).collect();
    let mut error = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, mut run)) => {
                // An element stopped because a sibling failed says nothing
                // of its own: keep waiting for the sibling's error.
                match run.error.take() {
                    Some(e) if error.is_none() || matches!(error, Some(ExecError::Cancelled)) => error = Some(e),
                    _ => {}
                }
                runs[i] = Some(run);
                if error.as_ref().is_some_and(|e| !matches!(e, ExecError::Cancelled)) {
                    set.shutdown().await;
                    break;
                }
            }
            Err(_) => {
                error = Some(internal("an element's steps panicked".into()));
                set.shutdown().await;
                break;
            }
        }
    }
    if error.is_some() {
        elements_cancel.cancel();
    }
    let mut kept = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        let Some(mut run) = run else { continue };
        record.children.append(&mut run.records);
        if error.is_some() {
            continue;
        }
        let keep = match body.filter {
            Some(f) => matches!(run.values.get(&f), Some(Value::Bool(true))),
            None => true,
        };
        if keep {
            let v = if matches!(output, crate::dataflow::MapOutput::Filtered(_)) {
                elements.get(i).cloned()
            } else {
                run.values.remove(&body.output)
            };
            kept.push(v.ok_or_else(|| internal(format!("element {i} produced no value")))?);
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    record.elements = Some((elements.len(), kept.len()));
    elements::assemble(output, &source, kept).map_err(internal)
}

/// Converts a value where the parameter asks for a wider type: a frame to
/// frames, a video to the whole-video clip.
fn coerce(v: Value, ty: &ParamType) -> Value {
    let accepts = |t: &Type| match ty {
        ParamType::Is(x) => x == t,
        ParamType::OneOf(xs) => xs.contains(t),
        ParamType::SameAsT => false,
    };
    match v {
        Value::Frame(f) if !accepts(&Type::Frame) && accepts(&Type::Frames) => Value::Frames(Arc::new(vec![f])),
        Value::Video(v) if !accepts(&Type::Video) && accepts(&Type::Clip) => Value::Clip(Arc::new(Clip::whole(v))),
        other => other,
    }
}

fn check_range(p: &crate::module::Param, v: &Value) -> Result<(), ModuleError> {
    let Some(r) = p.range else { return Ok(()) };
    let x = match v {
        Value::Int(i) => *i as f64,
        Value::Number(x) | Value::Duration(x) | Value::Timestamp(x) => *x,
        _ => return Ok(()),
    };
    if x < r.min || x > r.max || x.is_nan() {
        return Err(ModuleError::invalid(p.name, format!("{x} is outside {}..={}", r.min, r.max)));
    }
    Ok(())
}
