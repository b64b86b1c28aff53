//! The module interface: what a step is.
//!
//! A module describes itself with a [`Signature`] (typed parameters, return
//! type, version, documentation, searchable numeric parameters, cache policy)
//! so the checker can type programs before anything runs, the planner can
//! describe it to an LLM, and the executor can cache its results. Its
//! [`Module::call`] is async; CPU-heavy work goes through
//! [`StepContext::blocking`] so it never stalls the async workers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::types::Type;
use crate::value::{Clip, Frame, TimedText, Value, VideoRef};

/// What a parameter accepts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ParamType {
    /// Exactly this type (or one assignable to it).
    Is(Type),
    /// Any of these. With `generic`, the matched type binds `T`.
    OneOf(Vec<Type>),
    /// The same kind as `T` (bound by an earlier generic parameter): for
    /// numbers any number, otherwise a type assignable to `T`.
    SameAsT,
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamType::Is(t) => write!(f, "{t}"),
            ParamType::OneOf(ts) => {
                let names: Vec<String> =
                    ts.iter().map(|t| if *t == Type::list(Type::Any) { "List<T>".into() } else { t.to_string() }).collect();
                f.write_str(&names.join(" | "))
            }
            ParamType::SameAsT => f.write_str("T"),
        }
    }
}

/// The closed range a numeric parameter may take.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
}

/// One parameter of a module.
#[derive(Debug, Clone, Serialize)]
pub struct Param {
    /// Name, usable as a named argument.
    pub name: &'static str,
    /// Accepted type.
    pub ty: ParamType,
    /// Whether the matched type binds the signature's type variable `T`.
    pub generic: bool,
    /// The default when the argument is omitted; `None` means required
    /// (unless the parameter is `optional`).
    pub default: Option<Value>,
    /// May be omitted even without a default.
    pub optional: bool,
    /// Accepts one or more trailing positional arguments.
    pub variadic: bool,
    /// Allowed numeric range, checked statically for literals and at run time otherwise.
    pub range: Option<Range>,
    /// Range a parameter search may explore (declared by modules whose
    /// answers depend on it: `k`, `fps`, `pad`, `min_score`, ...).
    pub search: Option<Range>,
    /// The text literals accepted for a `Text` parameter, compared after
    /// [`normalise_text_value`] (`detect`'s labels): checked statically and
    /// by constrained decoding; a computed text is checked by the module at
    /// run time. `None`: any text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Arc<[String]>>,
    /// One line of documentation.
    pub doc: &'static str,
}

/// A text literal as [`Param::values`] compares it: lowercased, `_` and `-`
/// read as spaces, runs of whitespace as one space, ends trimmed.
pub fn normalise_text_value(text: &str) -> String {
    text.to_lowercase().replace(['_', '-'], " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Param {
    /// A required parameter.
    pub fn required(name: &'static str, ty: ParamType, doc: &'static str) -> Param {
        Param { name, ty, generic: false, default: None, optional: false, variadic: false, range: None, search: None, values: None, doc }
    }

    /// A required parameter of exactly one type.
    pub fn of(name: &'static str, ty: Type, doc: &'static str) -> Param {
        Param::required(name, ParamType::Is(ty), doc)
    }

    /// Sets a default value.
    pub fn default(mut self, v: Value) -> Param {
        self.default = Some(v);
        self
    }

    /// Marks the parameter as omittable without a default.
    pub fn optional(mut self) -> Param {
        self.optional = true;
        self
    }

    /// Marks the parameter as binding `T`.
    pub fn generic(mut self) -> Param {
        self.generic = true;
        self
    }

    /// Marks the parameter as variadic.
    pub fn variadic(mut self) -> Param {
        self.variadic = true;
        self
    }

    /// Sets the allowed range.
    pub fn range(mut self, min: f64, max: f64) -> Param {
        self.range = Some(Range { min, max });
        self
    }

    /// Accepts only these text literals ([`Param::values`]; stored
    /// normalised, sorted and without repeats).
    pub fn values(mut self, values: impl IntoIterator<Item = String>) -> Param {
        let mut v: Vec<String> = values.into_iter().map(|s| normalise_text_value(&s)).collect();
        v.sort();
        v.dedup();
        self.values = Some(v.into());
        self
    }

    /// Declares the parameter searchable over `min..=max`.
    pub fn searchable(mut self, min: f64, max: f64) -> Param {
        self.search = Some(Range { min, max });
        self
    }

    /// `name: Type`, `name: Type = default`, `name: Type?` (optional) or
    /// `name...: Type` (variadic).
    pub fn display(&self) -> String {
        let mut s = format!("{}{}: {}", self.name, if self.variadic { "..." } else { "" }, self.ty);
        if let Some(d) = &self.default {
            s.push_str(" = ");
            s.push_str(&d.summary());
        } else if self.optional {
            s.push('?');
        }
        s
    }

    /// Whether the argument must be given.
    pub fn is_required(&self) -> bool {
        self.default.is_none() && !self.optional && !self.variadic
    }
}

/// What a module returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Returns {
    /// Always this type.
    Is(Type),
    /// The type bound to `T`.
    T,
    /// The element type of `T`.
    ElementOfT,
    /// `List<T>`.
    ListOfT,
    /// `Int` if every numeric argument is `Int`, else `Number`.
    Numeric,
}

impl fmt::Display for Returns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Returns::Is(t) => write!(f, "{t}"),
            Returns::T => f.write_str("T"),
            Returns::ElementOfT => f.write_str("element of T"),
            Returns::ListOfT => f.write_str("List<T>"),
            Returns::Numeric => f.write_str("Int | Number"),
        }
    }
}

/// A static constraint across parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Constraint {
    /// At most one of these named arguments may be given.
    AtMostOneOf(&'static [&'static str]),
}

/// Where a module's results may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CachePolicy {
    /// Never cached (cheap, or depends on the outside world).
    Never,
    /// Cached in memory for the process.
    Memory,
    /// Cached in memory and on disk, per video.
    Disk,
}

/// A module's self-description.
#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// Name used in programs.
    pub name: &'static str,
    /// Semantic version; part of every cache key, so bump it when outputs change.
    pub version: &'static str,
    /// One-paragraph documentation (first line is the summary).
    pub doc: &'static str,
    /// Parameters in positional order.
    pub params: Vec<Param>,
    /// Return type.
    pub returns: Returns,
    /// Cross-parameter constraints.
    pub constraints: Vec<Constraint>,
    /// Cache policy.
    pub cache: CachePolicy,
    /// Largest number of frames the module wants per call; larger inputs are
    /// split into chunks of this size by the executor and the results joined.
    pub max_batch: Option<usize>,
    /// Trivial and non-blocking (operators): the executor runs it inline
    /// instead of as a task of its own, saving the hand-off between threads.
    pub inline: bool,
}

impl Signature {
    /// A signature with no parameters yet.
    pub fn new(name: &'static str, version: &'static str, returns: Returns, doc: &'static str) -> Signature {
        Signature {
            name,
            version,
            doc,
            params: Vec::new(),
            returns,
            constraints: Vec::new(),
            cache: CachePolicy::Memory,
            max_batch: None,
            inline: false,
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, p: Param) -> Signature {
        self.params.push(p);
        self
    }

    /// Adds a constraint.
    pub fn constraint(mut self, c: Constraint) -> Signature {
        self.constraints.push(c);
        self
    }

    /// Sets the cache policy.
    pub fn cache(mut self, c: CachePolicy) -> Signature {
        self.cache = c;
        self
    }

    /// Marks the module trivial enough to run inline (see [`Signature::inline`]).
    pub fn inline(mut self) -> Signature {
        self.inline = true;
        self
    }

    /// Sets the largest batch.
    pub fn max_batch(mut self, n: usize) -> Signature {
        self.max_batch = Some(n);
        self
    }

    /// Looks a parameter up by name.
    pub fn param_named(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// First line of the documentation.
    pub fn summary(&self) -> &'static str {
        self.doc.lines().next().unwrap_or("")
    }

    /// `name(p: Type, q: Type = default) -> Type`
    pub fn display(&self) -> String {
        self.display_with(|_| true)
    }

    /// Like [`Signature::display`], listing only the parameters `keep` keeps.
    pub fn display_with(&self, keep: impl Fn(&Param) -> bool) -> String {
        let params: Vec<String> = self.params.iter().filter(|p| keep(p)).map(Param::display).collect();
        format!("{}({}) -> {}", self.name, params.join(", "), self.returns)
    }
}

/// Which device neural modules should run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Device {
    /// The CPU.
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal.
    Cuda(usize),
}

/// Why a module call failed.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// An argument had a bad value.
    #[error("invalid argument `{param}`: {reason}")]
    InvalidArgument {
        /// Parameter name.
        param: String,
        /// What was wrong.
        reason: String,
    },
    /// A model the module needs is not installed.
    #[error("model `{model}` is not installed; {install}")]
    MissingModel {
        /// Model name.
        model: String,
        /// How to install it (a command).
        install: String,
    },
    /// A model file exists but is damaged or of the wrong kind.
    #[error("model `{model}` at {path} is unusable: {reason}")]
    BadModel {
        /// Model name.
        model: String,
        /// Its file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A media file could not be read.
    #[error("{path}: {reason}")]
    Media {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Anything else the module reports.
    #[error("{0}")]
    Failed(String),
    /// The step was told to stop (its timeout passed, another step failed,
    /// or the run was interrupted) and did, between two pieces of work.
    #[error("stopped: the step was cancelled")]
    Cancelled,
}

impl ModuleError {
    /// Shorthand for [`ModuleError::InvalidArgument`].
    pub fn invalid(param: &str, reason: impl Into<String>) -> ModuleError {
        ModuleError::InvalidArgument { param: param.into(), reason: reason.into() }
    }
}

/// A module's arguments, keyed by parameter name, defaults filled in.
#[derive(Debug, Clone, Default)]
pub struct Args {
    values: BTreeMap<String, Value>,
    variadic: Vec<Value>,
}

macro_rules! typed_getter {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(&self, name: &str) -> Result<$ty, ModuleError> {
            match self.get(name) {
                Some(Value::$variant(v)) => Ok(v.clone()),
                Some(other) => Err(ModuleError::invalid(name, format!("expected {}, got {}", stringify!($variant), other.type_of()))),
                None => Err(ModuleError::invalid(name, "missing")),
            }
        }
    };
}

impl Args {
    /// Arguments from a name → value map (and variadic values, in order).
    pub fn new(values: BTreeMap<String, Value>, variadic: Vec<Value>) -> Args {
        Args { values, variadic }
    }

    /// Arguments for calling a module directly (tests, tools, other modules):
    /// the given named values, then each missing parameter's default from `sig`.
    pub fn with_defaults<'a>(sig: &Signature, named: impl IntoIterator<Item = (&'a str, Value)>, variadic: Vec<Value>) -> Args {
        let mut values: BTreeMap<String, Value> = named.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        for p in sig.params.iter().filter(|p| !p.variadic) {
            if let Some(d) = &p.default {
                values.entry(p.name.to_string()).or_insert_with(|| d.clone());
            }
        }
        Args { values, variadic }
    }

    /// The argument called `name`, if given or defaulted.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Every named argument.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.values.iter()
    }

    /// The values given to the variadic parameter.
    pub fn variadic(&self) -> &[Value] {
        &self.variadic
    }

    /// A number (ints widen).
    pub fn number(&self, name: &str) -> Result<f64, ModuleError> {
        match self.get(name) {
            Some(Value::Number(v)) => Ok(*v),
            Some(Value::Int(v)) => Ok(*v as f64),
            Some(other) => Err(ModuleError::invalid(name, format!("expected a number, got {}", other.type_of()))),
            None => Err(ModuleError::invalid(name, "missing")),
        }
    }

    /// An optional number.
    pub fn opt_number(&self, name: &str) -> Result<Option<f64>, ModuleError> {
        if self.get(name).is_none() {
            return Ok(None);
        }
        self.number(name).map(Some)
    }

    /// A duration or timestamp in seconds.
    pub fn seconds(&self, name: &str) -> Result<f64, ModuleError> {
        match self.get(name) {
            Some(Value::Duration(v) | Value::Timestamp(v)) => Ok(*v),
            Some(other) => Err(ModuleError::invalid(name, format!("expected a time, got {}", other.type_of()))),
            None => Err(ModuleError::invalid(name, "missing")),
        }
    }

    /// A clip; a video becomes the whole-video clip.
    pub fn clip(&self, name: &str) -> Result<Arc<Clip>, ModuleError> {
        match self.get(name) {
            Some(Value::Clip(c)) => Ok(c.clone()),
            Some(Value::Video(v)) => Ok(Arc::new(Clip::whole(v.clone()))),
            Some(other) => Err(ModuleError::invalid(name, format!("expected a Clip, got {}", other.type_of()))),
            None => Err(ModuleError::invalid(name, "missing")),
        }
    }

    /// A list of strings (e.g. answer options), each item checked to be Text.
    pub fn texts(&self, name: &str) -> Result<Vec<String>, ModuleError> {
        self.list(name)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Text(s) => Ok(s.to_string()),
                other => Err(ModuleError::invalid(name, format!("item {i} is {}, not Text", other.type_of()))),
            })
            .collect()
    }

    /// Frames; a single frame becomes a one-frame list.
    pub fn frames(&self, name: &str) -> Result<Arc<Vec<Frame>>, ModuleError> {
        match self.get(name) {
            Some(Value::Frames(f)) => Ok(f.clone()),
            Some(Value::Frame(f)) => Ok(Arc::new(vec![f.clone()])),
            Some(other) => Err(ModuleError::invalid(name, format!("expected Frames, got {}", other.type_of()))),
            None => Err(ModuleError::invalid(name, "missing")),
        }
    }

    typed_getter!(
        /// A video.
        video, Video, Arc<VideoRef>);
    typed_getter!(
        /// Timed text.
        timed_text, TimedText, Arc<TimedText>);
    typed_getter!(
        /// A string.
        text, Text, Arc<str>);
    typed_getter!(
        /// A truth value.
        bool, Bool, bool);
    typed_getter!(
        /// A whole number.
        int, Int, i64);
    typed_getter!(
        /// A list.
        list, List, Arc<Vec<Value>>);
}

/// Reports progress of a long step. A bar appears (on a terminal only) once
/// the module says how much work there is.
#[derive(Clone, Default)]
pub struct Progress {
    inner: Option<Arc<ProgressInner>>,
}

struct ProgressInner {
    multi: indicatif::MultiProgress,
    prefix: String,
    bar: std::sync::OnceLock<indicatif::ProgressBar>,
}

impl Progress {
    /// A progress reporter that shows nothing.
    pub fn hidden() -> Progress {
        Progress { inner: None }
    }

    /// A reporter drawing into `multi`, labelled `prefix`.
    pub fn new(multi: indicatif::MultiProgress, prefix: String) -> Progress {
        Progress { inner: Some(Arc::new(ProgressInner { multi, prefix, bar: std::sync::OnceLock::new() })) }
    }

    /// Sets the total amount of work (and shows the bar).
    pub fn set_length(&self, len: u64) {
        if let Some(p) = &self.inner {
            let bar = p.bar.get_or_init(|| {
                let style = indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> ");
                p.multi.add(indicatif::ProgressBar::new(len).with_style(style).with_prefix(p.prefix.clone()))
            });
            bar.set_length(len);
        }
    }

    /// Adds `n` units of finished work.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = self.inner.as_ref().and_then(|p| p.bar.get()) {
            bar.inc(n);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = self.inner.as_ref().and_then(|p| p.bar.get()) {
            bar.finish_and_clear();
        }
    }
}

/// What a module sees of the run it is part of.
#[derive(Clone)]
pub struct StepContext {
    /// The step's id in the trace (e.g. `s3` or `s5[2].s1`).
    pub step_id: String,
    /// Device for neural modules.
    pub device: Device,
    /// Progress reporting.
    pub progress: Progress,
    /// Limits concurrent CPU-heavy work to the number of cores.
    pub cpu: Arc<tokio::sync::Semaphore>,
    /// What the module tells the trace about how it got its output.
    pub notes: Notes,
    /// Set when the step must stop; blocking work checks it between frames,
    /// batches or tokens ([`StepContext::stop_signal`]).
    pub cancel: CancellationToken,
}

/// A handle blocking work keeps to learn that its step must stop: a step's
/// timeout, another step's failure and an interrupt all set it, and a loop
/// over frames, batches or tokens calls [`StopSignal::check`] between them.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(CancellationToken);

impl StopSignal {
    /// A signal that is never raised (tests, benchmarks, tools).
    pub fn never() -> StopSignal {
        StopSignal::default()
    }

    /// Whether the work should stop.
    pub fn is_raised(&self) -> bool {
        self.0.is_cancelled()
    }

    /// `Err(ModuleError::Cancelled)` once the work should stop.
    pub fn check(&self) -> Result<(), ModuleError> {
        if self.is_raised() {
            Err(ModuleError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Notes a module leaves in the trace about one call: the context it rendered
/// for a language model, frames it skipped as unchanged, a fallback it took,
/// why a result is empty. Recorded in the step's `notes`, in order.
#[derive(Debug, Clone, Default)]
pub struct Notes(Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>);

impl Notes {
    /// Adds a note.
    pub fn add(&self, key: &str, value: impl serde::Serialize) {
        let value = serde_json::to_value(value).unwrap_or_else(|e| serde_json::Value::String(format!("(unserialisable note: {e})")));
        let mut notes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        notes.push((key.to_string(), value));
    }

    /// Every note so far.
    pub fn snapshot(&self) -> Vec<(String, serde_json::Value)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes every note, leaving none.
    pub fn take(&self) -> Vec<(String, serde_json::Value)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The value of the last note called `key`.
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

impl StepContext {
    /// A context for calling a module directly (tests, benchmarks, tools).
    pub fn standalone(step_id: &str) -> StepContext {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        StepContext {
            step_id: step_id.into(),
            device: Device::Cpu,
            progress: Progress::hidden(),
            cpu: Arc::new(tokio::sync::Semaphore::new(cores)),
            notes: Notes::default(),
            cancel: CancellationToken::new(),
        }
    }

    /// What blocking work checks to stop early (see [`StopSignal`]).
    pub fn stop_signal(&self) -> StopSignal {
        StopSignal(self.cancel.clone())
    }

    /// Leaves a note in the trace (see [`Notes`]).
    pub fn note(&self, key: &str, value: impl serde::Serialize) {
        self.notes.add(key, value);
    }

    /// Runs CPU-heavy or blocking work on the blocking pool, at most one job
    /// per core at a time.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ModuleError>
    where
        F: FnOnce() -> Result<T, ModuleError> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.cpu.clone().acquire_owned().await.map_err(|_| ModuleError::Failed("runtime is shutting down".into()))?;
        self.stop_signal().check()?;
        tokio::task::spawn_blocking(f).await.map_err(|e| ModuleError::Failed(format!("worker thread failed: {e}")))?
    }
}

/// A step a program can call.
#[async_trait]
pub trait Module: Send + Sync {
    /// The module's self-description.
    fn signature(&self) -> &Signature;

    /// Runs the module. Arguments are already type-checked against the
    /// signature and defaults are filled in.
    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError>;

    /// When the model this module runs by default is not installed: the
    /// command that installs it. Such a module still type-checks (a program
    /// naming it fails at run time with [`ModuleError::MissingModel`]), but
    /// planners leave it out of their catalogs and `vprog modules` marks it.
    fn missing_model(&self) -> Option<String> {
        None
    }
}
