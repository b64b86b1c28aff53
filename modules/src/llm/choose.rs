//! `choose`: multiple choice by a local language model's likelihood of each option.
//!
//! # Prompt
//!
//! ChatML (both models' chat template), with the system message
//! [`SYSTEM`], the user message
//!
//! ```text
//! Evidence from the video (one line per item, [start-end] times):
//! <rendered evidence>            (see `render`; "(none)" when empty)
//!
//! Question: <question>
//! ```
//!
//! and the assistant turn opened with [`ANSWER_PREFIX`] (`Answer:`). The
//! prompt is run once (prefill); its KV cache is shared by every option.
//!
//! # Scoring (`scoring = "likelihood"`, the default)
//!
//! Each option is scored as the continuation of `Answer:`: the tokens of
//! `" " + option` followed by `<|im_end|>` (so an option that is only the
//! start of a likelier answer is not favoured). One forward pass per option,
//! from a clone of the prompt's cache, gives the log-probability of every
//! answer token. The option's score is the **mean token log-probability**
//! (natural log) over its tokens and the `<|im_end|>`: length-normalised, so
//! long options are not penalised for their length. `scores` holds these
//! means; the choice is the highest (ties: lowest index); `confidence` is its
//! share of `softmax(scores)` over the options (shares sum to 1).
//!
//! The options are deliberately **not** listed in the prompt, and the answer
//! follows a space: on the TED test question ("What does the speaker teach?",
//! evidence saying "I teach entrepreneurship") SmolLM2-135M picked `cooking`
//! when the options were listed (its prior wins over the evidence) and when
//! the answer started the turn without a space (`ent|reprene|urs|hip` instead
//! of the ` entrepreneurship` token the evidence uses), and `physics` with
//! letter scoring; unlisted, after a space, it picks `entrepreneurship` with
//! confidence 0.77 (and `cooking` without the evidence).
//!
//! # Scoring (`scoring = "letter"`)
//!
//! The options are listed as `A. ...`, `B. ...` and the model is asked for
//! the letter; the score of an option is the log-probability of ` A`, ` B`,
//! ... as the first answer token (no per-option pass). `confidence` is again
//! the softmax share. Small models answer letters close to position bias.

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::IndexOp;
use serde::Serialize;
use vprog_runtime::value::Choice;
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::model::{candle_err, log_softmax};
use super::render::{note_render, render};
use super::{chatml, evidence_arg, int_arg, load_llm, model_arg, Llm, DEFAULT_MODEL};
use crate::model_store::ModelStore;
use crate::reasoning::choose::softmax;

/// The system message of `choose`.
pub const SYSTEM: &str = "You answer questions about a video. Use the evidence extracted from the video; the answer is one of the options.";

/// What the assistant's answer starts with; each option is scored as its
/// continuation, after a space (so its words get the same tokens as inside a
/// sentence of the evidence, e.g. ` entrepreneurship`, not `ent|reprene|urs|hip`).
pub const ANSWER_PREFIX: &str = "Answer:";

/// How options are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scoring {
    /// Mean log-probability of the option's tokens (and `<|im_end|>`) as the answer.
    Likelihood,
    /// Log-probability of the option's letter as the first answer token.
    Letter,
}

/// One option's scoring detail (noted in the trace).
#[derive(Debug, Clone, Serialize)]
pub struct OptionScore {
    /// The option.
    pub option: String,
    /// Its answer tokens as text pieces.
    pub tokens: Vec<String>,
    /// Log-probability of each token.
    pub logprobs: Vec<f64>,
    /// Their sum.
    pub sum: f64,
    /// Their mean (the score, for likelihood scoring).
    pub mean: f64,
}

/// `choose(question, options, evidence = [], model = DEFAULT_MODEL, budget = 1000, scoring = "likelihood")`.
pub struct Choose {
    sig: Signature,
    store: Arc<ModelStore>,
}

impl Choose {
    /// The module, with models from `store`.
    pub fn new(store: Arc<ModelStore>) -> Choose {
        let sig = Signature::new(
            "choose",
            "1.0.0",
            Returns::Is(Type::Choice),
            "Picks the option a local language model finds likeliest as the answer to the question, given the evidence.
The evidence is rendered into at most `budget` tokens of timestamped lines (see \
`render_evidence`: coarsened into time windows when too long, truncated with a marker \
only as a last resort) and put in a ChatML prompt with the question (options not listed), the answer \
opened with `Answer:`. The prompt is computed once; with `scoring = \"likelihood\"` (default) \
each option is then scored as the continuation ` <option>` followed by the end-of-turn token, by the \
MEAN natural-log probability of those tokens (length-normalised; one forward pass per \
option from a copy of the prompt's KV cache). With `scoring = \"letter\"` the options are \
lettered A, B, ... and scored by the log-probability of their letter as the first \
answer token. `scores` holds each option's score; the highest wins (ties: lowest \
index); `confidence` is its share of softmax(scores) over the options (shares sum to \
1). `method` names the model and scoring. Deterministic (greedy, no sampling). The \
trace notes the rendered context, its tokens and granularity, and every option's \
token log-probabilities. Models: `qwen2.5-coder-0.5b-instruct` (default) or \
`smollm2-135m-instruct` (`vprog models fetch ID`). No options is an error.",
        )
        .param(Param::of("question", Type::Text, "The question being answered."))
        .param(Param::of("options", Type::list(Type::Text), "The candidate answers (at least one)."))
        .param(
            Param::of("evidence", Type::Any, "What the answer should be supported by: any value or list of values.")
                .default(Value::List(Arc::new(Vec::new()))),
        )
        .param(Param::of("model", Type::Text, "Catalog id of the GGUF language model.").default(Value::text(DEFAULT_MODEL)))
        .param(
            Param::of("budget", Type::Int, "Most tokens the rendered evidence may take.")
                .default(Value::Int(1000))
                .range(16.0, 6000.0)
                .searchable(200.0, 2000.0),
        )
        .param(
            Param::of("scoring", Type::Text, "`likelihood` (mean log-prob of each option's tokens) or `letter`.")
                .default(Value::text("likelihood")),
        )
        .cache(CachePolicy::Disk);
        Choose { sig, store }
    }
}

#[async_trait]
impl Module for Choose {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let question = args.text("question")?.to_string();
        let options = args.texts("options")?;
        if options.is_empty() {
            return Err(ModuleError::invalid("options", "choose: there are no options to choose from"));
        }
        if let Some(i) = options.iter().position(|o| o.trim().is_empty()) {
            return Err(ModuleError::invalid("options", format!("option {i} is empty")));
        }
        let scoring = match args.get("scoring") {
            None => Scoring::Likelihood,
            Some(Value::Text(s)) if &**s == "likelihood" => Scoring::Likelihood,
            Some(Value::Text(s)) if &**s == "letter" => Scoring::Letter,
            Some(other) => {
                return Err(ModuleError::invalid("scoring", format!("expected \"likelihood\" or \"letter\", got {}", other.summary())))
            }
        };
        if scoring == Scoring::Letter && options.len() > 26 {
            return Err(ModuleError::invalid("options", "letter scoring takes at most 26 options"));
        }
        let budget = int_arg(&args, "budget", 16, 6000)?;
        let model = model_arg(&args)?;
        let evidence = evidence_arg(&args);
        let llm = load_llm(&self.store, &model, ctx).await?;
        let out = ctx.blocking(move || choose_with(&llm, &question, &options, &evidence, budget, scoring)).await?;
        note_render(ctx, &out.context, &out.report);
        ctx.note("prompt_tokens", out.prompt_tokens);
        ctx.note("prompt_tokens_reused", out.reused_tokens);
        ctx.note("options", &out.details);
        Ok(Value::Choice(Arc::new(out.choice)))
    }
}

/// What [`choose_with`] found, and how.
pub struct Outcome {
    /// The chosen option.
    pub choice: Choice,
    /// The rendered evidence context.
    pub context: String,
    /// How the evidence was rendered.
    pub report: super::render::RenderReport,
    /// Each option's token log-probabilities.
    pub details: Vec<OptionScore>,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values came from an earlier prompt with
    /// the same beginning ([`super::model::PrefixCache`]).
    pub reused_tokens: usize,
}

/// Renders the evidence, builds the prompt and scores every option.
pub fn choose_with(
    llm: &Llm,
    question: &str,
    options: &[String],
    evidence: &Value,
    budget: usize,
    scoring: Scoring,
) -> Result<Outcome, ModuleError> {
    let tok = &llm.tokenizer;
    let (context, report) = render(evidence, budget, &|s: &str| tok.count(s));
    let mut user = String::from("Evidence from the video (one line per item, [start-end] times):\n");
    user.push_str(if context.is_empty() { "(none)" } else { &context });
    let _ = write!(user, "\n\nQuestion: {}", question.trim());
    if scoring == Scoring::Letter {
        user.push_str("\nOptions:\n");
        for (i, o) in options.iter().enumerate() {
            let _ = writeln!(user, "{}. {}", letter(i), o.trim());
        }
        user.push_str("Answer with the letter of one option only.");
    }
    let mut prompt_text = chatml(SYSTEM, &user);
    prompt_text.push_str(ANSWER_PREFIX);
    let prompt = tok.encode(&prompt_text)?;
    let (last, cache, reused) = llm.prefixes.prefill(&llm.model, &prompt)?;
    let last = log_softmax(&last)?.to_vec1::<f32>().map_err(candle_err)?;
    let lp = |v: &[f32], id: u32| -> f64 { v.get(id as usize).copied().map_or(f64::NEG_INFINITY, f64::from) };

    let mut details = Vec::with_capacity(options.len());
    for (i, option) in options.iter().enumerate() {
        let mut ids = match scoring {
            Scoring::Likelihood => tok.encode(&format!(" {}", option.trim()))?,
            Scoring::Letter => tok.encode(&format!(" {}", letter(i)))?,
        };
        if scoring == Scoring::Likelihood {
            if let Some(end) = tok.im_end.or(tok.eos) {
                ids.push(end);
            }
        }
        if ids.is_empty() {
            return Err(ModuleError::invalid("options", format!("option {i} has no tokens")));
        }
        let mut logprobs = vec![lp(&last, ids[0])];
        if scoring == Scoring::Likelihood && ids.len() > 1 {
            let mut c = cache.clone();
            let logits = llm.model.forward(&ids[..ids.len() - 1], &mut c)?;
            let logp = log_softmax(&logits)?;
            for (k, &id) in ids.iter().enumerate().skip(1) {
                let row = logp.i((k - 1, id as usize)).and_then(|t| t.to_scalar::<f32>()).map_err(candle_err)?;
                logprobs.push(f64::from(row));
            }
        } else if scoring == Scoring::Letter {
            logprobs.truncate(1);
        }
        let sum: f64 = logprobs.iter().sum();
        let mean = sum / logprobs.len() as f64;
        let tokens = ids.iter().map(|&id| tok.tokenizer.decode(&[id], false).unwrap_or_default()).collect();
        details.push(OptionScore { option: option.clone(), tokens, logprobs, sum, mean });
    }
    let scores: Vec<f64> = details.iter().map(|d| d.mean).collect();
    let (index, _) = scores.iter().enumerate().fold((0, f64::NEG_INFINITY), |(bi, bs), (i, &s)| if s > bs { (i, s) } else { (bi, bs) });
    let probs = softmax(&scores, 1.0);
    let method = match scoring {
        Scoring::Likelihood => format!("choose: {} mean token log-likelihood of each option as the answer", llm.id),
        Scoring::Letter => format!("choose: {} log-probability of each option's letter", llm.id),
    };
    let choice = Choice {
        index,
        option: options.get(index).cloned().unwrap_or_default(),
        confidence: probs.get(index).copied().unwrap_or(0.0),
        scores,
        method,
    };
    Ok(Outcome { choice, context, report, details, prompt_tokens: prompt.len(), reused_tokens: reused })
}

fn letter(i: usize) -> char {
    char::from(b'A' + (i % 26) as u8)
}
