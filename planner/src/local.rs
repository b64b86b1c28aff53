//! A local GGUF model on candle as the planner's language model, with token
//! log-probabilities, seeded sampling and constrained decoding.
//!
//! **Constrained decoding.** At each step the candidate tokens are taken in
//! order of probability and each is tried against the request's
//! [`TextConstraint`]: a token is allowed only if the reply with it appended
//! is still viable, and the end of the turn only if the reply is complete.
//! Greedy decoding takes the first allowed token, which is exactly the
//! most likely token under the masked distribution. Sampling draws among the
//! first [`TOP_K`] allowed tokens of the [`SCAN`] most likely (top-k
//! sampling under the mask); when none of those is allowed, the whole
//! vocabulary is scanned in order before the reply is declared a dead end.
//! Tokens that are not whole UTF-8 text on their own (byte fragments of
//! multi-byte characters) are never allowed under a constraint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use vprog_llm::model::log_probs;
use vprog_llm::{KvCache, Llm};
use vprog_models::ModelStore;

use crate::backend::{Completion, Finish, LlmBackend, LlmError, Message, Request, Role, TextConstraint};

/// Allowed tokens sampled among, at temperature > 0.
pub const TOP_K: usize = 20;

/// Log-probabilities of tokens among the last [`REPEAT_WINDOW`] generated
/// are multiplied by this (made less likely), as transformers'
/// `repetition_penalty` does: it breaks the loops greedy decoding falls into.
pub const REPEAT_PENALTY: f32 = 1.15;

/// How many recent tokens [`REPEAT_PENALTY`] looks back over.
pub const REPEAT_WINDOW: usize = 64;

/// Most likely tokens tried against the constraint before the whole
/// vocabulary is scanned.
pub const SCAN: usize = 64;

/// A local language model.
pub struct LocalBackend {
    llm: Arc<Llm>,
    vocab: TokenTexts,
}

fn model_err(e: vprog_llm::Error) -> LlmError {
    // A missing model is worded as a module's is (`ModuleError::MissingModel`).
    if let vprog_llm::Error::Store(store @ vprog_models::ModelError::NotInstalled { id, .. }) = &e {
        return LlmError::Model(format!("model `{id}` is not installed; {}", store.install_hint().unwrap_or_default()));
    }
    LlmError::Model(e.to_string())
}

impl LocalBackend {
    /// Loads model `id` from `store` (a clear error naming `vprog models
    /// fetch ID` when it is not installed). The model is shared with the
    /// `choose` and `ask_llm` modules of the same process.
    pub async fn load(store: &ModelStore, id: &str) -> Result<LocalBackend, LlmError> {
        let path = vprog_llm::model_path(store, id).map_err(model_err)?;
        let id = id.to_string();
        let (llm, vocab) = tokio::task::spawn_blocking(move || {
            let llm = vprog_llm::shared_llm(&id, &path, &vprog_llm::Device::Cpu)?;
            let t0 = Instant::now();
            let vocab = token_texts(&llm);
            tracing::info!(seconds = t0.elapsed().as_secs_f64(), "planner: token texts");
            Ok((llm, vocab))
        })
        .await
        .map_err(|e| LlmError::Model(format!("worker thread failed: {e}")))?
        .map_err(model_err)?;
        Ok(LocalBackend { llm, vocab })
    }

    /// The catalog id of the model.
    pub fn model_id(&self) -> &str {
        &self.llm.id
    }
}

/// The text of every token on its own, by token id.
type TokenTexts = Arc<Vec<Option<String>>>;

/// The text of every token on its own (`None` for byte fragments and
/// special tokens), cached per model file.
fn token_texts(llm: &Llm) -> TokenTexts {
    static TABLES: OnceLock<Mutex<HashMap<String, TokenTexts>>> = OnceLock::new();
    let key = llm.path.display().to_string();
    let tables = TABLES.get_or_init(Default::default);
    if let Some(t) = tables.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return t.clone();
    }
    let tok = &llm.tokenizer.tokenizer;
    let size = tok.get_vocab_size(true);
    let table: Vec<Option<String>> = (0..size as u32)
        .map(|id| {
            if llm.tokenizer.is_end(id) {
                return None;
            }
            match tok.decode(&[id], true) {
                Ok(s) if !s.is_empty() && !s.contains('\u{fffd}') => Some(s),
                _ => None,
            }
        })
        .collect();
    let table = Arc::new(table);
    tables.lock().unwrap_or_else(|p| p.into_inner()).insert(key, table.clone());
    table
}

/// The ChatML text of `messages` with the assistant's turn opened and
/// `prefix` written into it.
pub fn chatml_conversation(messages: &[Message], prefix: &str) -> String {
    let mut s = String::new();
    for m in messages {
        let role = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        s.push_str(&format!("<|im_start|>{role}\n{}<|im_end|>\n", m.content));
    }
    s.push_str("<|im_start|>assistant\n");
    s.push_str(prefix);
    s
}

enum Pick {
    Token(u32, f32),
    End,
    DeadEnd,
}

struct Decoder<'a> {
    llm: &'a Llm,
    vocab: &'a [Option<String>],
    constraint: Option<&'a dyn TextConstraint>,
    temperature: f64,
    rng: ChaCha8Rng,
}

impl Decoder<'_> {
    /// Whether token `id` may follow `reply`.
    fn allowed(&self, id: u32, reply: &str) -> bool {
        let is_end = self.llm.tokenizer.is_end(id);
        match (self.constraint, is_end) {
            (None, _) => true,
            (Some(c), true) => c.complete(reply),
            (Some(c), false) => match self.vocab.get(id as usize) {
                Some(Some(t)) => {
                    let mut s = String::with_capacity(reply.len() + t.len());
                    s.push_str(reply);
                    s.push_str(t);
                    c.viable(&s)
                }
                _ => false,
            },
        }
    }

    fn pick(&mut self, logp: &[f32], reply: &str) -> Pick {
        let mut order: Vec<u32> = (0..logp.len() as u32).collect();
        let by_logp = |a: &u32, b: &u32| logp[*b as usize].total_cmp(&logp[*a as usize]);
        let scan = SCAN.min(order.len());
        if scan == 0 {
            return Pick::DeadEnd;
        }
        order.select_nth_unstable_by(scan - 1, by_logp);
        order[..scan].sort_unstable_by(by_logp);
        let want = if self.temperature > 0.0 { TOP_K } else { 1 };
        let shortcut = self.constraint.and_then(|c| c.shortcut(reply));
        let may = |id: u32| match (&shortcut, self.vocab.get(id as usize)) {
            (Some(quick), Some(Some(t))) if !self.llm.tokenizer.is_end(id) => quick(t),
            _ => true,
        };
        let mut allowed: Vec<u32> = order[..scan].iter().copied().filter(|&id| may(id) && self.allowed(id, reply)).take(want).collect();
        if allowed.is_empty() && self.constraint.is_some() {
            order[scan..].sort_unstable_by(by_logp);
            allowed = order[scan..].iter().copied().filter(|&id| may(id) && self.allowed(id, reply)).take(want).collect();
        }
        let Some(&best) = allowed.first() else { return Pick::DeadEnd };
        let id = if self.temperature > 0.0 && allowed.len() > 1 {
            let t = self.temperature as f32;
            let top = logp[best as usize];
            let weights: Vec<f32> = allowed.iter().map(|&i| ((logp[i as usize] - top) / t).exp()).collect();
            let total: f32 = weights.iter().sum();
            let mut x = self.rng.random::<f32>() * total;
            let mut chosen = best;
            for (i, w) in allowed.iter().zip(&weights) {
                chosen = *i;
                if x < *w {
                    break;
                }
                x -= w;
            }
            chosen
        } else {
            best
        };
        if self.llm.tokenizer.is_end(id) {
            Pick::End
        } else {
            Pick::Token(id, logp[id as usize])
        }
    }
}

/// Generates a reply to `req` (blocking: run it off the async threads).
fn generate(llm: &Llm, vocab: &[Option<String>], req: &Request) -> Result<Completion, LlmError> {
    let t0 = Instant::now();
    let tok = &llm.tokenizer;
    let prompt = chatml_conversation(&req.messages, &req.prefix);
    let ids = tok.encode(&prompt).map_err(model_err)?;
    if ids.len() + 1 >= llm.model.max_positions() {
        return Err(LlmError::Model(format!("the prompt is {} tokens; {} holds {}", ids.len(), llm.id, llm.model.max_positions())));
    }
    // The system prompt is the same for every question of a registry: its
    // keys and values are kept on disk for the next process.
    let persist = match (&llm.prefix_store, req.messages.first()) {
        (Some(store), Some(m)) if m.role == Role::System => {
            let system = tok.encode(&chatml_conversation(std::slice::from_ref(m), "")).map_err(model_err)?;
            // Up to the assistant turn the rendering ends with, which the
            // whole conversation has elsewhere.
            let shared = system.iter().zip(&ids).take_while(|(a, b)| a == b).count();
            Some((store, shared))
        }
        _ => None,
    };
    let (mut logits, mut cache, reused): (_, KvCache, usize) =
        llm.prefixes.prefill_persisting(&llm.model, &ids, persist).map_err(model_err)?;
    let mut decoder = Decoder {
        llm,
        vocab,
        constraint: req.constraint.as_deref(),
        temperature: req.temperature.max(0.0),
        rng: ChaCha8Rng::seed_from_u64(req.seed),
    };
    let mut reply = req.prefix.clone();
    let mut out: Vec<u32> = Vec::new();
    let mut logprob = 0.0f64;
    let mut finish = Finish::Length;
    let prefill_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (mut pick_ms, mut fwd_ms) = (0.0, 0.0);
    for _ in 0..req.max_tokens {
        let tp = Instant::now();
        let mut logp = log_probs(&logits).map_err(model_err)?;
        let raw: Vec<(u32, f32)> = out.iter().rev().take(REPEAT_WINDOW).filter_map(|&id| Some((id, *logp.get(id as usize)?))).collect();
        for &(id, lp) in &raw {
            if let Some(x) = logp.get_mut(id as usize) {
                *x = lp * REPEAT_PENALTY;
            }
        }
        let pick = decoder.pick(&logp, &reply);
        pick_ms += tp.elapsed().as_secs_f64() * 1000.0;
        match pick {
            Pick::End => {
                finish = Finish::Stop;
                break;
            }
            Pick::DeadEnd => {
                finish = Finish::DeadEnd;
                break;
            }
            Pick::Token(id, lp) => {
                // The reported log-probability is the model's own.
                let lp = raw.iter().find(|(r, _)| *r == id).map_or(lp, |(_, l)| *l);
                out.push(id);
                logprob += f64::from(lp);
                reply = format!("{}{}", req.prefix, tok.decode(&out).map_err(model_err)?);
            }
        }
        if let Some(cut) = req.stop.iter().filter_map(|s| reply[req.prefix.len()..].find(s.as_str())).min() {
            reply.truncate(req.prefix.len() + cut);
            finish = Finish::Stop;
            break;
        }
        if cache.len() + 1 >= llm.model.max_positions() {
            break;
        }
        let tf = Instant::now();
        logits = llm.model.forward_last(&[out[out.len() - 1]], &mut cache).map_err(model_err)?;
        fwd_ms += tf.elapsed().as_secs_f64() * 1000.0;
    }
    tracing::debug!(prompt = ids.len(), reused, prefill_ms, tokens = out.len(), pick_ms, forward_ms = fwd_ms, "local generation");
    Ok(Completion {
        text: reply[req.prefix.len()..].to_string(),
        prompt_tokens: Some(ids.len()),
        reused_tokens: Some(reused),
        completion_tokens: Some(out.len()),
        logprob: Some(logprob),
        finish,
        constrained: req.constraint.is_some(),
        elapsed: t0.elapsed(),
    })
}

#[async_trait]
impl LlmBackend for LocalBackend {
    fn describe(&self) -> String {
        format!("local:{}", self.llm.id)
    }

    fn constrains(&self) -> bool {
        true
    }

    async fn complete(&self, request: &Request) -> Result<Completion, LlmError> {
        let (llm, vocab, req) = (self.llm.clone(), self.vocab.clone(), request.clone());
        tokio::task::spawn_blocking(move || generate(&llm, &vocab, &req))
            .await
            .map_err(|e| LlmError::Model(format!("worker thread failed: {e}")))?
    }
}
