//! The vprog runtime.
//!
//! The pipeline, one stage per module:
//! 1. [`check`]: a parsed program is type-checked against module
//!    [`Signature`](module::Signature)s and lowered to a [`dataflow::Dataflow`]
//!    (a petgraph DAG).
//! 2. [`dataflow::optimize`]: named passes merge identical steps and drop dead ones.
//! 3. [`exec`]: the plan runs on tokio, independent steps in parallel, each
//!    result content-addressed in the [`cache`].
//! 4. [`trace`]: every step's inputs, parameters, output, timing and evidence
//!    are written atomically to a trace directory.

pub mod module;

pub mod cache;
pub mod check;
pub mod dataflow;
pub mod exec;
pub mod registry;
pub mod trace;

pub mod types;
pub mod value;

pub use module::{
    normalise_text_value, Args, CachePolicy, Device, Module, ModuleError, Notes, Param, ParamType, Returns, Signature, StepContext,
    StopSignal,
};
pub use registry::Registry;
/// The token [`exec::ExecConfig::interrupt`] takes (re-exported from tokio-util).
pub use tokio_util::sync::CancellationToken;
pub use types::Type;
pub use value::Value;
