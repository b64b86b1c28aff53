//! The vprog planner: a question becomes programs written by a language
//! model, each parsed and type-checked, repaired from its diagnostics, and
//! searched with Monte Carlo Tree Search.
//!
//! - [`backend`]: the [`backend::LlmBackend`] trait and its request/reply types.
//! - [`openai`]: any OpenAI-compatible chat-completions server.

pub mod backend;
pub mod openai;
