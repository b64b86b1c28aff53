//! The language-model interface the planner writes programs with.
//!
//! Two implementations: [`crate::local::LocalBackend`] (a GGUF model on
//! candle, with token log-probabilities and constrained decoding) and
//! [`crate::openai::OpenAiBackend`] (any OpenAI-compatible chat-completions
//! server: vLLM, llama.cpp's server, Ollama, hosted APIs).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions: the language, the modules, the examples.
    System,
    /// The question, or feedback on a program.
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message { role: Role::System, content: content.into() }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message { role: Role::User, content: content.into() }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Message {
        Message { role: Role::Assistant, content: content.into() }
    }
}

/// What the text generated so far allows (constrained decoding).
///
/// The text passed is the whole reply so far, the request's
/// [`Request::prefix`] included.
pub trait TextConstraint: Send + Sync {
    /// Whether `text` can still be extended into an accepted text.
    fn viable(&self, text: &str) -> bool;
    /// Whether the reply may end after `text`.
    fn complete(&self, text: &str) -> bool;
    /// A cheap test, made once per step, of whether a token may follow
    /// `text`: tokens it refuses need no [`TextConstraint::viable`] check
    /// (which parses the whole reply). It may let through tokens that
    /// `viable` refuses, never the reverse. `None`: no shortcut.
    fn shortcut(&self, _text: &str) -> Option<TokenTest<'_>> {
        None
    }
}

/// A cheap test of a candidate token ([`TextConstraint::shortcut`]).
pub type TokenTest<'a> = Box<dyn Fn(&str) -> bool + Send + 'a>;

/// One completion request.
#[derive(Clone)]
pub struct Request {
    /// The conversation; the reply is the next assistant message.
    pub messages: Vec<Message>,
    /// Text the assistant's reply is forced to start with (a program prefix
    /// being continued). The reply returned does not repeat it.
    pub prefix: String,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Sampling temperature; 0 is greedy (deterministic).
    pub temperature: f64,
    /// Seed of the sampler (reproducible with the local backend; passed on
    /// to servers, which may ignore it).
    pub seed: u64,
    /// Generation stops before any of these strings.
    pub stop: Vec<String>,
    /// Token-by-token constraint; honoured by backends whose
    /// [`LlmBackend::constrains`] is true, ignored by the others.
    pub constraint: Option<Arc<dyn TextConstraint>>,
}

impl Request {
    /// A greedy request for `messages` with at most `max_tokens` tokens.
    pub fn new(messages: Vec<Message>, max_tokens: usize) -> Request {
        Request { messages, prefix: String::new(), max_tokens, temperature: 0.0, seed: 0, stop: Vec::new(), constraint: None }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("messages", &self.messages)
            .field("prefix", &self.prefix)
            .field("max_tokens", &self.max_tokens)
            .field("temperature", &self.temperature)
            .field("seed", &self.seed)
            .field("stop", &self.stop)
            .field("constrained", &self.constraint.is_some())
            .finish()
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The model ended its turn, or a stop string was reached.
    Stop,
    /// `max_tokens` (or the context) ran out.
    Length,
    /// Constrained decoding found no allowed token among the candidates.
    DeadEnd,
}

/// A generated reply.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    /// The reply, without the request's prefix.
    pub text: String,
    /// Prompt tokens, when known.
    pub prompt_tokens: Option<usize>,
    /// Prompt tokens whose keys and values were reused from an earlier
    /// request (local backend).
    pub reused_tokens: Option<usize>,
    /// Generated tokens, when known.
    pub completion_tokens: Option<usize>,
    /// Sum of the natural-log probabilities of the generated tokens, when known.
    pub logprob: Option<f64>,
    /// Why it stopped.
    pub finish: Finish,
    /// Whether the constraint was applied token by token.
    pub constrained: bool,
    /// Wall time of the request (retries included).
    pub elapsed: Duration,
}

impl Completion {
    /// Mean log-probability per generated token, when known.
    pub fn mean_logprob(&self) -> Option<f64> {
        match (self.logprob, self.completion_tokens) {
            (Some(lp), Some(n)) if n > 0 => Some(lp / n as f64),
            _ => None,
        }
    }
}

/// A backend failing to complete.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The server could not be reached.
    #[error("cannot reach the language-model server at {url}: {reason} (is it running? check --llm)")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
    /// No reply within the time limit.
    #[error("the language-model server at {url} did not answer within {after:?}{}", attempts_note(*.attempts))]
    Timeout {
        /// The endpoint.
        url: String,
        /// The limit, per attempt.
        after: Duration,
        /// Attempts made, the last of which timed out (1 when not retried).
        /// The other variants carry the count in their text; this one has none.
        attempts: u32,
    },
    /// The server answered with an error status.
    #[error("the language-model server at {url} answered HTTP {status}: {message}")]
    Http {
        /// The endpoint.
        url: String,
        /// The status code.
        status: u16,
        /// The server's message (or the start of the body).
        message: String,
    },
    /// The reply was not a chat completion.
    #[error("the language-model server at {url} sent a reply that is not a chat completion: {reason}; it began: {excerpt:?}")]
    BadResponse {
        /// The endpoint.
        url: String,
        /// What was wrong.
        reason: String,
        /// The first characters of the body.
        excerpt: String,
    },
    /// The local model failed (missing, corrupt, out of context).
    #[error("local language model: {0}")]
    Model(String),
    /// The request cannot be served by this backend.
    #[error("{0}")]
    Invalid(String),
}

impl LlmError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Unreachable { .. } | LlmError::Timeout { .. } | LlmError::BadResponse { .. } => true,
            LlmError::Http { status, .. } => *status == 429 || *status >= 500,
            LlmError::Model(_) | LlmError::Invalid(_) => false,
        }
    }
}

/// ` (N attempts)` after an error's text when it was retried, else nothing.
fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    }
}

/// A language model the planner can ask.
#[async_trait]
pub trait LlmBackend: Send + Sync {
    /// What it is, for traces and logs (`local:qwen2.5-coder-0.5b-instruct`,
    /// `openai:http://localhost:8080/v1 model qwen`).
    fn describe(&self) -> String;

    /// Whether [`Request::constraint`] is applied token by token.
    fn constrains(&self) -> bool;

    /// The next assistant message.
    async fn complete(&self, request: &Request) -> Result<Completion, LlmError>;
}
