//! `ask_llm`: greedy free-text answers from a local language model.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use vprog_llm::model::log_probs;
use vprog_llm::KvCache;

use super::render::{note_render, render};
use super::{chatml, evidence_arg, int_arg, llm_error, load_llm, model_arg, Llm, DEFAULT_MODEL};
use crate::model_store::ModelStore;

/// The system message of `ask_llm`.
pub const SYSTEM: &str = "You answer questions about a video. Use the evidence extracted from the video. Be brief.";

/// Token budget of the rendered evidence in `ask_llm`.
pub const EVIDENCE_BUDGET: usize = 1000;

/// What the generation did (noted in the trace as `generation`).
#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens (the end token not counted).
    pub tokens: usize,
    /// Mean natural-log probability of the generated tokens (greedy, so each
    /// is the most likely): a confidence, 0 = certain.
    pub mean_logprob: f64,
    /// Why it stopped: `end of turn` or `max_tokens`.
    pub stopped: &'static str,
}

/// `ask_llm(prompt, evidence = [], model = DEFAULT_MODEL, max_tokens = 128)`.
pub struct AskLlm {
    sig: Signature,
    store: Arc<ModelStore>,
}

impl AskLlm {
    /// The module, with models from `store`.
    pub fn new(store: Arc<ModelStore>) -> AskLlm {
        let sig = Signature::new(
            "ask_llm",
            "1.0.0",
            Returns::Is(Type::Text),
            "Answers a prompt in free text with a local language model, reading the evidence.
The evidence is rendered into at most 1000 tokens of timestamped lines (see \
`render_evidence`) and put with the prompt in a ChatML conversation. Generation is \
greedy (always the most likely token: deterministic) and stops at the end of the \
assistant's turn (`<|im_end|>` or the model's EOS) or after `max_tokens` tokens. \
Returns the generated text, trimmed. The trace notes the rendered context, the \
prompt and generated token counts, why generation stopped and the mean token \
log-probability (a confidence: 0 is certain). Models: `qwen2.5-coder-0.5b-instruct` \
(default) or `smollm2-135m-instruct`. An empty prompt is an error.",
        )
        .param(Param::of("prompt", Type::Text, "The question or instruction."))
        .param(Param::of("evidence", Type::Any, "What to read: any value or list of values.").default(Value::List(Arc::new(Vec::new()))))
        .param(Param::of("model", Type::Text, "Catalog id of the GGUF language model.").default(Value::text(DEFAULT_MODEL)))
        .param(Param::of("max_tokens", Type::Int, "Most tokens to generate.").default(Value::Int(128)).range(1.0, 4096.0))
        .cache(CachePolicy::Disk);
        AskLlm { sig, store }
    }
}

#[async_trait]
impl Module for AskLlm {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let prompt = args.text("prompt")?.to_string();
        if prompt.trim().is_empty() {
            return Err(ModuleError::invalid("prompt", "ask_llm: the prompt is empty"));
        }
        let max_tokens = int_arg(&args, "max_tokens", 1, 4096)?;
        let model = model_arg(&args)?;
        let evidence = evidence_arg(&args);
        let llm = load_llm(&self.store, &model, ctx).await?;
        // One tick for the prompt, then one per token (at most).
        ctx.progress.set_length(1 + max_tokens as u64);
        let (progress, stop) = (ctx.progress.clone(), ctx.stop_signal());
        let (text, context, report, generation) = ctx
            .blocking(move || {
                let tok = &llm.tokenizer;
                let (context, report) = render(&evidence, EVIDENCE_BUDGET, &|s: &str| tok.count(s));
                let user = if context.is_empty() {
                    prompt.trim().to_string()
                } else {
                    format!("Evidence from the video (one line per item, [start-end] times):\n{context}\n\n{}", prompt.trim())
                };
                let mut on_pass = || {
                    progress.inc(1);
                    stop.check()
                };
                let (text, generation) = generate_with_progress(&llm, &chatml(SYSTEM, &user), max_tokens, &mut on_pass)?;
                Ok((text, context, report, generation))
            })
            .await?;
        note_render(ctx, &context, &report);
        ctx.note("generation", &generation);
        Ok(Value::text(text.trim()))
    }
}

/// Greedy generation after `prompt` (a full chat text) until the end of the
/// turn or `max_tokens`.
pub fn generate(llm: &Llm, prompt: &str, max_tokens: usize) -> Result<(String, Generation), ModuleError> {
    generate_with_progress(llm, prompt, max_tokens, &mut || Ok(()))
}

/// [`generate`], calling `on_pass` after the prompt and after each token:
/// progress, and a stop check (an error from it ends the generation).
pub fn generate_with_progress(
    llm: &Llm,
    prompt: &str,
    max_tokens: usize,
    on_pass: &mut dyn FnMut() -> Result<(), ModuleError>,
) -> Result<(String, Generation), ModuleError> {
    let tok = &llm.tokenizer;
    let ids = tok.encode(prompt).map_err(llm_error)?;
    let mut cache = KvCache::default();
    let mut logits = llm.model.forward_last(&ids, &mut cache).map_err(llm_error)?;
    on_pass()?;
    let mut out: Vec<u32> = Vec::new();
    let mut logprob_sum = 0.0;
    let mut stopped = "max_tokens";
    for _ in 0..max_tokens {
        let logp = log_probs(&logits).map_err(llm_error)?;
        let (next, lp) =
            logp.iter().enumerate().fold((0u32, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i as u32, v) } else { (bi, bv) });
        if tok.is_end(next) {
            stopped = "end of turn";
            break;
        }
        out.push(next);
        logprob_sum += f64::from(lp);
        if cache.len() + 1 >= llm.model.max_positions() {
            stopped = "context full";
            break;
        }
        logits = llm.model.forward_last(&[next], &mut cache).map_err(llm_error)?;
        on_pass()?;
    }
    let text = tok.decode(&out).map_err(llm_error)?;
    let mean_logprob = if out.is_empty() { 0.0 } else { logprob_sum / out.len() as f64 };
    Ok((text, Generation { prompt_tokens: ids.len(), tokens: out.len(), mean_logprob, stopped }))
}
