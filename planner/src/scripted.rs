//! A backend whose replies come from a function of the request: replaying a
//! recorded session, planting a known program in front of a real model (to
//! test repairs), and synthetic searches in tests and benchmarks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use crate::backend::{Completion, Finish, LlmBackend, LlmError, Request};

/// The reply function: the request and how many requests came before it.
pub type ReplyFn = dyn Fn(&Request, usize) -> Result<String, LlmError> + Send + Sync;

/// Replies computed by a function; stop strings are honoured, nothing else
/// (no constraint, no log-probabilities).
pub struct ScriptedBackend {
    name: String,
    reply: Box<ReplyFn>,
    calls: AtomicUsize,
}

impl ScriptedBackend {
    /// A backend answering with `reply`.
    pub fn new(
        name: impl Into<String>,
        reply: impl Fn(&Request, usize) -> Result<String, LlmError> + Send + Sync + 'static,
    ) -> ScriptedBackend {
        ScriptedBackend { name: name.into(), reply: Box::new(reply), calls: AtomicUsize::new(0) }
    }

    /// Replies from a list, in order; an error once it is used up.
    pub fn replay(replies: Vec<String>) -> ScriptedBackend {
        ScriptedBackend::new("replay", move |_, n| {
            replies.get(n).cloned().ok_or_else(|| LlmError::Invalid(format!("the replay has only {} replies", replies.len())))
        })
    }

    /// Requests answered so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl LlmBackend for ScriptedBackend {
    fn describe(&self) -> String {
        format!("scripted:{}", self.name)
    }

    fn constrains(&self) -> bool {
        false
    }

    async fn complete(&self, request: &Request) -> Result<Completion, LlmError> {
        let t0 = Instant::now();
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let mut text = (self.reply)(request, n)?;
        let mut finish = Finish::Stop;
        if let Some(cut) = request.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
            text.truncate(cut);
            finish = Finish::Stop;
        }
        Ok(Completion {
            text,
            prompt_tokens: None,
            reused_tokens: None,
            completion_tokens: None,
            logprob: None,
            finish,
            constrained: false,
            elapsed: t0.elapsed(),
        })
    }
}

/// Answers the first `planted.len()` requests with the planted replies, then
/// hands every request to `inner`: a real model repairing known mistakes.
pub struct PlantedBackend {
    planted: Vec<String>,
    inner: Arc<dyn LlmBackend>,
    calls: AtomicUsize,
}

impl PlantedBackend {
    /// `planted` replies first, then `inner`.
    pub fn new(planted: Vec<String>, inner: Arc<dyn LlmBackend>) -> PlantedBackend {
        PlantedBackend { planted, inner, calls: AtomicUsize::new(0) }
    }
}

#[async_trait]
impl LlmBackend for PlantedBackend {
    fn describe(&self) -> String {
        format!("planted+{}", self.inner.describe())
    }

    fn constrains(&self) -> bool {
        self.inner.constrains()
    }

    async fn complete(&self, request: &Request) -> Result<Completion, LlmError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.planted.get(n) {
            Some(text) => Ok(Completion {
                text: text.clone(),
                prompt_tokens: None,
                reused_tokens: None,
                completion_tokens: None,
                logprob: None,
                finish: Finish::Stop,
                constrained: false,
                elapsed: Default::default(),
            }),
            None => self.inner.complete(request).await,
        }
    }
}
