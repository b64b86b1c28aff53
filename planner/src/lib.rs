//! The vprog planner: a question becomes programs written by a language
//! model, each parsed and type-checked, repaired from its diagnostics, and
//! searched with Monte Carlo Tree Search.
//!
//! - [`backend`]: the [`backend::LlmBackend`] trait and its request/reply types;
//!   [`local`] (a GGUF model on candle, constrained decoding) and [`openai`]
//!   (any OpenAI-compatible server) implement it.
//! - [`connect`]: the backend a `--llm` setting names.
//! - [`prompt`]: the prompt, built from the registry, the language reference
//!   and the few-shot examples under `planner/prompts/`.
//! - [`constraint`]: the program constraint of constrained decoding.
//! - [`validate`]: extracting, parsing and checking a candidate program.
//! - [`plan`]: one program with up to N repair rounds.
//! - [`mcts`]: Monte Carlo Tree Search over partial programs.
//! - [`search`]: MCTS and sampling with the runtime in the loop, and the vote.
//! - [`params`]: program variants over searchable numeric parameters.
//! - [`fast_slow`]: fast–slow reasoning (a direct answer first, programs when
//!   it is not confident enough, fallback) and the parameter search.
//! - [`calibrate`]: choosing the threshold θ of fast–slow reasoning on a
//!   labelled set.
//! - [`usefulness`]: whether a valid program is useful for its question
//!   (evidence, relevant modules, the question's entities), without the video.
//! - [`record`]: the planner's typed record in a trace, and its report.

pub mod backend;
pub mod calibrate;
pub mod connect;
pub mod constraint;
pub mod fast_slow;
pub mod local;
pub mod mcts;
pub mod openai;
pub mod params;
pub mod plan;
pub mod prompt;
pub mod record;
pub mod scripted;
pub mod search;
pub mod usefulness;
pub mod validate;

pub use backend::{Completion, LlmBackend, LlmError, Message, Request};
pub use plan::{Planned, Planner, PlannerConfig};
pub use prompt::Question;
