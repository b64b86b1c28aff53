//! `choose`: multiple choice by a local language model.
//!
//! # Prompts
//!
//! ChatML (both models' chat template), with the system message [`SYSTEM`]
//! and the user message
//!
//! ```text
//! Evidence from the video (one line per item, [start-end] times):
//! <rendered evidence>            (see `render`; "(none)" when empty)
//!
//! Question: <question>
//! ```
//!
//! and the assistant turn opened with [`ANSWER_PREFIX`] (`Answer:`): the
//! **cloze prompt** ([`cloze_prompt`]). The **lettered prompt**
//! ([`lettered_prompt`]) adds the options as `A. ...` lines and asks for the
//! letter. Both share the evidence, so the second reuses the first's keys and
//! values ([`super::model::PrefixCache`]). Two **content-free** versions
//! (evidence `(none)`, question and options `N/A`) give each answer's prior.
//!
//! # Scores
//!
//! Every call computes every score of every option (noted in the trace as
//! `options`, so methods can be compared on the same run):
//!
//! - `sum`: the log-probability (natural log) of the option as the
//!   continuation of the cloze prompt: the tokens of `" " + option` and then
//!   `<|im_end|>` (so an option that only starts a likelier answer is not
//!   favoured); one forward pass per option from a copy of the prompt's cache;
//! - `mean`: that sum divided by the number of tokens. It favours long
//!   options whose later tokens are predictable from their first ones;
//! - `prior`: the same continuation's log-probability after the content-free
//!   cloze prompt, and `pmi = sum − prior` (pointwise mutual information with
//!   the evidence and question, after Holtzman et al., 2021: an option is not
//!   rewarded for being a likely string in general);
//! - `letter`: the log-probability of the option's letter (` A`, ` B`, ...)
//!   as the first answer token of the lettered prompt, renormalised over the
//!   options' letters;
//! - `letter_calibrated`: `letter − letter_prior`, where `letter_prior` is the
//!   same after the content-free lettered prompt (contextual calibration, Zhao
//!   et al., 2021: a small model's preference for a letter as such cancels).
//!
//! `scoring` picks the score the choice follows (the highest wins, ties: the
//! lowest index); `scores` holds it for every option. `confidence` is the
//! chosen option's share of `softmax(scores / T)`, where `T` is the scoring's
//! temperature ([`Scoring::temperature`]), fitted on the dev split of the
//! labelled set (`examples/bench/README.md`) so the confidence is calibrated.

use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{IndexOp, Tensor};
use serde::Serialize;
use vprog_runtime::value::Choice;
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use vprog_llm::model::{candle_err, log_probs, log_softmax};
use vprog_llm::KvCache;

use super::render::{note_render, render_with, Ranker, RenderOptions};
use super::{chatml, evidence_arg, int_arg, llm_error, load_llm, model_arg, Llm, DEFAULT_MODEL};
use crate::model_store::ModelStore;
use crate::retrieval::embed::Embedder;
use crate::retrieval::relevance::relevance;
use crate::symbolic::choose::softmax;
use vprog_models::catalog;

/// The system message of `choose`.
pub const SYSTEM: &str = "You answer questions about a video. Use the evidence extracted from the video; the answer is one of the options.";

/// What the assistant's answer starts with; each option is scored as its
/// continuation, after a space (so its words get the same tokens as inside a
/// sentence of the evidence, e.g. ` entrepreneurship`, not `ent|reprene|urs|hip`).
pub const ANSWER_PREFIX: &str = "Answer:";

/// Which score the choice follows (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scoring {
    /// Mean token log-probability of the option in the cloze prompt.
    Mean,
    /// Summed token log-probability of the option in the cloze prompt.
    Sum,
    /// The sum minus the option's content-free prior.
    Pmi,
    /// Log-probability of the option's letter in the lettered prompt.
    Letter,
    /// The letter's log-probability minus its content-free prior.
    LetterCalibrated,
}

impl Scoring {
    /// Every scoring, in the order of [`Scoring::name`]s in the module's doc.
    pub const ALL: [Scoring; 5] = [Scoring::Mean, Scoring::Sum, Scoring::Pmi, Scoring::Letter, Scoring::LetterCalibrated];

    /// The default: the most accurate on the dev split (`examples/bench/README.md`).
    pub const DEFAULT: Scoring = Scoring::Sum;

    /// Its name as the `scoring` argument takes it.
    pub fn name(self) -> &'static str {
        match self {
            Scoring::Mean => "mean",
            Scoring::Sum => "sum",
            Scoring::Pmi => "pmi",
            Scoring::Letter => "letter",
            Scoring::LetterCalibrated => "letter_calibrated",
        }
    }

    /// The scoring named `s` (`likelihood` is the old name of `mean`).
    pub fn parse(s: &str) -> Option<Scoring> {
        match s {
            "likelihood" => Some(Scoring::Mean),
            _ => Scoring::ALL.into_iter().find(|m| m.name() == s),
        }
    }

    /// The softmax temperature that turns its scores into calibrated
    /// probabilities: fitted on the dev split by minimising the negative
    /// log-likelihood of the right options (temperature scaling).
    pub fn temperature(self) -> f64 {
        match self {
            // `python3 scripts/analysis/choose_scoring.py` on `vprog eval
            // examples/bench/dev.jsonl --mode fast` (30 items, Qwen2.5-Coder-0.5B).
            Scoring::Mean => 0.892,
            Scoring::Sum => 5.431,
            Scoring::Pmi => 5.518,
            Scoring::Letter => 0.888,
            Scoring::LetterCalibrated => 1.294,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Scoring::Mean => "mean token log-likelihood of each option as the answer",
            Scoring::Sum => "summed token log-likelihood of each option as the answer",
            Scoring::Pmi => "log-likelihood of each option as the answer minus its content-free prior (PMI)",
            Scoring::Letter => "log-probability of each option's letter with the options listed",
            Scoring::LetterCalibrated => "log-probability of each option's letter minus its content-free prior",
        }
    }
}

/// One option's scores (noted in the trace).
#[derive(Debug, Clone, Serialize)]
pub struct OptionScore {
    /// The option.
    pub option: String,
    /// Its answer tokens as text pieces (cloze prompt).
    pub tokens: Vec<String>,
    /// Log-probability of each token (cloze prompt).
    pub logprobs: Vec<f64>,
    /// Their sum.
    pub sum: f64,
    /// Their mean.
    pub mean: f64,
    /// The sum after the content-free cloze prompt.
    pub prior: f64,
    /// `sum − prior`.
    pub pmi: f64,
    /// Log-probability of its letter among the options' letters (lettered prompt).
    pub letter: f64,
    /// The same after the content-free lettered prompt.
    pub letter_prior: f64,
    /// `letter − letter_prior`.
    pub letter_calibrated: f64,
}

impl OptionScore {
    /// Its score under `scoring`.
    pub fn score(&self, scoring: Scoring) -> f64 {
        match scoring {
            Scoring::Mean => self.mean,
            Scoring::Sum => self.sum,
            Scoring::Pmi => self.pmi,
            Scoring::Letter => self.letter,
            Scoring::LetterCalibrated => self.letter_calibrated,
        }
    }
}

/// `choose(question, options, evidence = [], model = DEFAULT_MODEL, budget = 1000, scoring = "letter")`.
pub struct Choose {
    sig: Signature,
    store: Arc<ModelStore>,
}

impl Choose {
    /// The module, with models from `store`.
    pub fn new(store: Arc<ModelStore>) -> Choose {
        let sig = Signature::new(
            "choose",
            "2.0.0",
            Returns::Is(Type::Choice),
            "Picks the option a local language model finds likeliest as the answer to the question, given the evidence.
The evidence is rendered into at most `budget` tokens of timestamped lines (see \
`render_evidence`: ranked by relevance to the question and options, then coarsened into time \
windows when too long) and put in a ChatML prompt with the question. Every option gets \
five scores, all noted in the trace: `sum` and `mean` (natural-log probability of \
` <option>` and the end-of-turn token as the continuation of `Answer:`, options not listed), \
`pmi` (that sum minus the same continuation's log-probability after a content-free prompt), \
`letter` (log-probability of the option's letter as the first answer token, options listed \
as A, B, ...) and `letter_calibrated` (minus the letter's content-free prior). `scoring` \
picks the one the choice follows (default `sum`, the most accurate on the dev split of \
the labelled set); the highest wins (ties: lowest index). `scores` holds it for each option; \
`confidence` is the chosen option's share of softmax(scores / T), with T fitted per scoring \
on the dev split (temperature scaling). `method` names the model and scoring. Deterministic. \
The trace notes the rendered context, its tokens and granularity, and every option's \
scores. Models: `qwen2.5-coder-0.5b-instruct` (default) or `smollm2-135m-instruct` \
(`vprog models fetch ID`). No options, or more than 26, is an error.",
        )
        .param(Param::of("question", Type::Text, "The question being answered."))
        .param(Param::of("options", Type::list(Type::Text), "The candidate answers (1 to 26)."))
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
            Param::of("min_score", Type::Number, "Cues and boxes whose recognition score (OCR, speech, detection confidence, 0 to 1) is below this are left out of the evidence.")
                .default(Value::Number(0.0))
                .range(0.0, 1.0)
                .searchable(0.0, 0.9),
        )
        .param(
            Param::of("rank", Type::Bool, "Over budget, keep the evidence most relevant to the question and options (BM25 + MiniLM) rather than coarsening it.")
                .default(Value::Bool(true)),
        )
        .param(
            Param::of("scoring", Type::Text, "`sum` (default), `letter`, `letter_calibrated`, `pmi` or `mean` (`likelihood`: the old name of `mean`).")
                .default(Value::text(Scoring::DEFAULT.name())),
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
            None => Scoring::DEFAULT,
            Some(Value::Text(s)) => Scoring::parse(s).ok_or_else(|| {
                let names: Vec<&str> = Scoring::ALL.iter().map(|m| m.name()).collect();
                ModuleError::invalid("scoring", format!("unknown scoring {s:?}: expected one of {}", names.join(", ")))
            })?,
            Some(other) => return Err(ModuleError::invalid("scoring", format!("expected a scoring name, got {}", other.summary()))),
        };
        let budget = int_arg(&args, "budget", 16, 6000)?;
        let min_score = match args.get("min_score") {
            None => 0.0,
            Some(_) => args.number("min_score")?,
        };
        if !(0.0..=1.0).contains(&min_score) {
            return Err(ModuleError::invalid("min_score", format!("must be in [0, 1], got {min_score}")));
        }
        let rank = !matches!(args.get("rank"), Some(Value::Bool(false)));
        let model = model_arg(&args)?;
        let evidence = evidence_arg(&args);
        let llm = load_llm(&self.store, &model, ctx).await?;
        let store = self.store.clone();
        // One tick per model pass: a 20-s choice shows it is working, and stops when told.
        ctx.progress.set_length(choose_passes(options.len()) as u64);
        let (progress, stop) = (ctx.progress.clone(), ctx.stop_signal());
        let (out, ranker_note) = ctx
            .blocking(move || {
                // MiniLM when installed; BM25 alone otherwise (noted).
                let (embedder, note) = match rank.then(|| Embedder::load(&store, catalog::MINILM)) {
                    None => (None, "off (rank: false)".to_string()),
                    Some(Ok(e)) => (Some(e), format!("BM25 + {} (alpha {RANK_ALPHA})", catalog::MINILM)),
                    Some(Err(e)) => (None, format!("BM25 only: {e}")),
                };
                let query = format!("{} {}", question.trim(), options.join(" "));
                let ranker = |lines: &[String]| -> Vec<f64> {
                    let texts: Vec<String> = lines.iter().map(|l| strip_stamp(l).to_string()).collect();
                    relevance(embedder.as_deref(), &query, &texts, RANK_ALPHA).unwrap_or_else(|_| vec![0.0; lines.len()])
                };
                let opts = RenderOptions { min_score, ranker: rank.then_some(&ranker as &Ranker<'_>) };
                let mut on_pass = || {
                    progress.inc(1);
                    stop.check()
                };
                choose_with_progress(&llm, &question, &options, &evidence, budget, opts, scoring, &mut on_pass).map(|o| (o, note))
            })
            .await?;
        ctx.note("ranker", ranker_note);
        note_render(ctx, &out.context, &out.report);
        ctx.note("prompt_tokens", out.prompt_tokens);
        ctx.note("prompt_tokens_reused", out.reused_tokens);
        ctx.note("scoring", scoring.name());
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
    /// Each option's scores.
    pub details: Vec<OptionScore>,
    /// Tokens in the cloze prompt.
    pub prompt_tokens: usize,
    /// Cloze-prompt tokens whose keys and values came from an earlier prompt
    /// with the same beginning ([`super::model::PrefixCache`]).
    pub reused_tokens: usize,
}

/// Renders the evidence, builds the prompts and scores every option by
/// every [`Scoring`]; the choice follows `scoring`.
pub fn choose_with(
    llm: &Llm,
    question: &str,
    options: &[String],
    evidence: &Value,
    budget: usize,
    render_options: RenderOptions<'_>,
    scoring: Scoring,
) -> Result<Outcome, ModuleError> {
    choose_with_progress(llm, question, options, evidence, budget, render_options, scoring, &mut || Ok(()))
}

/// Model passes [`choose_with`] makes for `options` options: four prompts,
/// then each option after the evidence and after the content-free prompt.
pub fn choose_passes(options: usize) -> usize {
    4 + 2 * options
}

/// [`choose_with`], calling `on_pass` after each of its
/// [`choose_passes`] model passes: progress, and a stop check (an error from
/// it ends the call).
#[allow(clippy::too_many_arguments)]
pub fn choose_with_progress(
    llm: &Llm,
    question: &str,
    options: &[String],
    evidence: &Value,
    budget: usize,
    render_options: RenderOptions<'_>,
    scoring: Scoring,
    on_pass: &mut dyn FnMut() -> Result<(), ModuleError>,
) -> Result<Outcome, ModuleError> {
    if options.len() > LETTERS.len() {
        return Err(ModuleError::invalid("options", format!("choose takes at most {} options, got {}", LETTERS.len(), options.len())));
    }
    let tok = &llm.tokenizer;
    let (context, report) = render_with(evidence, budget, &|s: &str| tok.count(s), render_options);
    let context = if context.is_empty() { NO_EVIDENCE.to_string() } else { context };

    // Cloze prompt: options not listed; each option is the continuation of `Answer:`.
    let prompt = tok.encode(&cloze_prompt(&context, question)).map_err(llm_error)?;
    let (last, cache, reused) = llm.prefixes.prefill(&llm.model, &prompt).map_err(llm_error)?;
    on_pass()?;
    let mut details = Vec::with_capacity(options.len());
    for (i, option) in options.iter().enumerate() {
        let ids = option_ids(llm, i, option)?;
        let logprobs = continuation(llm, &last, &cache, &ids)?;
        on_pass()?;
        let tokens = ids.iter().map(|&id| tok.tokenizer.decode(&[id], false).unwrap_or_default()).collect();
        let sum: f64 = logprobs.iter().sum();
        details.push(OptionScore {
            option: option.clone(),
            tokens,
            mean: sum / logprobs.len() as f64,
            sum,
            logprobs,
            prior: 0.0,
            pmi: 0.0,
            letter: 0.0,
            letter_prior: 0.0,
            letter_calibrated: 0.0,
        });
    }
    // The same continuations after a content-free prompt: each option's prior.
    let (free_last, free_cache) = fresh_prefill(llm, &tok.encode(&cloze_prompt(NO_EVIDENCE, CONTENT_FREE)).map_err(llm_error)?)?;
    on_pass()?;
    for (i, d) in details.iter_mut().enumerate() {
        let ids = option_ids(llm, i, &d.option)?;
        d.prior = continuation(llm, &free_last, &free_cache, &ids)?.iter().sum();
        on_pass()?;
        d.pmi = d.sum - d.prior;
    }
    // Lettered prompt: options listed, the answer's first token is a letter.
    let letters = letter_ids(llm, options.len())?;
    let (listed_last, _, _) = llm
        .prefixes
        .prefill(&llm.model, &tok.encode(&lettered_prompt(&context, question, options)).map_err(llm_error)?)
        .map_err(llm_error)?;
    on_pass()?;
    let listed = letter_logprobs(&listed_last, &letters)?;
    let free_options: Vec<String> = options.iter().map(|_| CONTENT_FREE.to_string()).collect();
    let (free_listed_last, _) =
        fresh_prefill(llm, &tok.encode(&lettered_prompt(NO_EVIDENCE, CONTENT_FREE, &free_options)).map_err(llm_error)?)?;
    on_pass()?;
    let free_listed = letter_logprobs(&free_listed_last, &letters)?;
    for (i, d) in details.iter_mut().enumerate() {
        d.letter = listed[i];
        d.letter_prior = free_listed[i];
        d.letter_calibrated = listed[i] - free_listed[i];
    }

    let scores: Vec<f64> = details.iter().map(|d| d.score(scoring)).collect();
    let (index, _) = scores.iter().enumerate().fold((0, f64::NEG_INFINITY), |(bi, bs), (i, &s)| if s > bs { (i, s) } else { (bi, bs) });
    let probs = softmax(&scores, scoring.temperature());
    let method = format!("choose: {} {}", llm.id, scoring.describe());
    let choice = Choice {
        index,
        option: options.get(index).cloned().unwrap_or_default(),
        confidence: probs.get(index).copied().unwrap_or(0.0),
        scores,
        method,
    };
    Ok(Outcome { choice, context, report, details, prompt_tokens: prompt.len(), reused_tokens: reused })
}

/// Weight of the MiniLM cosine in the relevance ranking (as `retrieve_subtitles`' default).
pub const RANK_ALPHA: f64 = 0.5;

/// A rendered line without its leading `[MM:SS.s-MM:SS.s]` or `[untimed]` stamp.
fn strip_stamp(line: &str) -> &str {
    match line.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((_, rest)) => rest.trim_start(),
        None => line,
    }
}

/// What stands for the evidence when there is none, and in content-free prompts.
pub const NO_EVIDENCE: &str = "(none)";

/// The question and options of the content-free prompts (contextual calibration's "N/A").
pub const CONTENT_FREE: &str = "N/A";

/// Answer letters; `choose` takes at most this many options.
pub const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn user_message(context: &str, question: &str) -> String {
    let mut user = String::from("Evidence from the video (one line per item, [start-end] times):\n");
    user.push_str(context);
    let _ = write!(user, "\n\nQuestion: {}", question.trim());
    user
}

/// The cloze prompt: evidence and question, the answer opened with [`ANSWER_PREFIX`].
pub fn cloze_prompt(context: &str, question: &str) -> String {
    let mut p = chatml(SYSTEM, &user_message(context, question));
    p.push_str(ANSWER_PREFIX);
    p
}

/// The lettered prompt: evidence, question and the options as `A. ...` lines.
pub fn lettered_prompt(context: &str, question: &str, options: &[String]) -> String {
    let mut user = user_message(context, question);
    user.push_str("\nOptions:\n");
    for (i, o) in options.iter().enumerate() {
        let _ = writeln!(user, "{}. {}", letter(i), o.trim());
    }
    user.push_str("Answer with the letter of one option only.");
    let mut p = chatml(SYSTEM, &user);
    p.push_str(ANSWER_PREFIX);
    p
}

/// The tokens of ` <option>` and the end of the turn.
fn option_ids(llm: &Llm, i: usize, option: &str) -> Result<Vec<u32>, ModuleError> {
    let tok = &llm.tokenizer;
    let mut ids = tok.encode(&format!(" {}", option.trim())).map_err(llm_error)?;
    if ids.is_empty() {
        return Err(ModuleError::invalid("options", format!("option {i} has no tokens")));
    }
    if let Some(end) = tok.im_end.or(tok.eos) {
        ids.push(end);
    }
    Ok(ids)
}

/// The token of ` A`, ` B`, ... for `n` options.
fn letter_ids(llm: &Llm, n: usize) -> Result<Vec<u32>, ModuleError> {
    (0..n)
        .map(|i| {
            let ids = llm.tokenizer.encode(&format!(" {}", letter(i))).map_err(llm_error)?;
            match ids.as_slice() {
                [id] => Ok(*id),
                _ => Err(ModuleError::Failed(format!("language model {}: the letter {} is not one token", llm.id, letter(i)))),
            }
        })
        .collect()
}

/// Log-probabilities of the letters among themselves (renormalised over the `letters`).
fn letter_logprobs(last: &Tensor, letters: &[u32]) -> Result<Vec<f64>, ModuleError> {
    let all = log_probs(last).map_err(llm_error)?;
    let raw: Vec<f64> = letters.iter().map(|&id| all.get(id as usize).copied().map_or(f64::NEG_INFINITY, f64::from)).collect();
    let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let norm = max + raw.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
    Ok(raw.iter().map(|l| l - norm).collect())
}

/// A prompt run from an empty cache, outside the prefix cache (content-free prompts are short and would only evict useful entries).
fn fresh_prefill(llm: &Llm, prompt: &[u32]) -> Result<(Tensor, KvCache), ModuleError> {
    let mut cache = KvCache::default();
    let last = llm.model.forward_last(prompt, &mut cache).map_err(llm_error)?;
    Ok((last, cache))
}

/// Log-probability of each token of `ids` continuing a prompt whose last logits are `last` and cache `cache`.
fn continuation(llm: &Llm, last: &Tensor, cache: &KvCache, ids: &[u32]) -> Result<Vec<f64>, ModuleError> {
    let first = log_probs(last).map_err(llm_error)?;
    let mut logprobs = vec![ids.first().and_then(|&id| first.get(id as usize)).copied().map_or(f64::NEG_INFINITY, f64::from)];
    if ids.len() > 1 {
        let mut c = cache.clone();
        let logits = llm.model.forward(&ids[..ids.len() - 1], &mut c).map_err(llm_error)?;
        let logp = log_softmax(&logits).map_err(llm_error)?;
        for (k, &id) in ids.iter().enumerate().skip(1) {
            let row = logp.i((k - 1, id as usize)).and_then(|t| t.to_scalar::<f32>()).map_err(|e| llm_error(candle_err(e)))?;
            logprobs.push(f64::from(row));
        }
    }
    Ok(logprobs)
}

fn letter(i: usize) -> char {
    LETTERS.as_bytes().get(i).map_or('?', |&b| char::from(b))
}
