//! `choose_by_text`: a lexical multiple-choice baseline.
//!
//! No model is involved: options are scored by how well their words are
//! supported by the evidence, BM25-style. It is meant as a transparent,
//! deterministic baseline (and a fallback when no language model is
//! installed), not as a reader that understands the evidence.
//!
//! # Scoring
//!
//! 1. **Documents.** The evidence is split into documents: every cue of a
//!    TimedText is one document, weighted by its `score` when it has one
//!    (weight 1 otherwise); a Text is split into sentences; a list contributes
//!    its items; any other value contributes the lines of its [`describe`]
//!    rendering, each line weighted 1. Cues contribute their text without the
//!    `[MM:SS.s–MM:SS.s]` prefix `describe` puts before it, so times never
//!    match numbers in options.
//! 2. **Tokens.** Lowercase, split on anything not alphanumeric, drop a small
//!    English stopword list (function words, question words and the
//!    negations, which are handled by polarity below) and one-letter words,
//!    and crudely stem (`-ies`→`-y`, strip `-ing`, `-ed`, `-ly`, plural `-s`,
//!    then a final `-e`). The question additionally drops a few framing words
//!    ("speaker", "say", "according", ...).
//! 3. **Overlap.** For option `o` with token set `O` and document `d`:
//!    `bm25(O, d) = Σ_{t∈O} idf(t) · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))`
//!    with `k1 = 1.2`, `b = 0.75`, `idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5))`
//!    over the `N` evidence documents.
//! 4. **Question co-occurrence.** The document's share `Q(d)` of the question's
//!    idf mass (question tokens that occur somewhere in the evidence and are
//!    not in the option) multiplies the overlap by `1 + 0.5·Q(d)`: words of an
//!    option count more where the question's subject is also mentioned.
//! 5. **Polarity.** A crude negation check: a sentence is negated when it
//!    holds "not", "no", "never", "rarely", "seldom", "hardly", "n't", ...
//!    (consecutive cues of one source, at most 1 s apart, are joined into
//!    sentences that end at `.`, `?`, `!`; a list of one-cue timed texts
//!    counts as one stream of cues). The claim an option
//!    makes is negated when exactly one of the question and the option is.
//!    A document whose sentence polarity differs from the claim's counts half:
//!    for "what is luck?", evidence "luck is rarely a lightning strike"
//!    supports "a lightning strike" less than "luck is defined as ..." supports
//!    its option.
//! 6. `score(o) = Σ_d weight(d) · polarity(d, o) · bm25(O, d) · (1 + 0.5·Q(d))`.
//!    These raw scores are the choice's `scores`.
//! 7. **Confidence.** `softmax(score / T)` with temperature `T = 2`: one more
//!    matched distinctive word (≈ 2 idf units) multiplies an option's odds by
//!    about e. The chosen option's share is the `confidence`, in (0, 1]; the
//!    shares of all options sum to 1. With no overlap at all every option gets
//!    `1/n` and the first is chosen. Ties go to the lowest index.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use vprog_runtime::value::{Choice, Cue};
use vprog_runtime::{Args, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::text::describe;

/// Every choice module.
pub fn modules() -> Vec<Arc<dyn Module>> {
    vec![Arc::new(ChooseByText::new())]
}

/// What `method` says on every choice this module makes.
pub const METHOD: &str = "choose_by_text: lexical overlap baseline";

/// Softmax temperature, in score units (≈ idf units).
pub const TEMPERATURE: f64 = 2.0;

const K1: f64 = 1.2;
const B: f64 = 0.75;
const QUESTION_BONUS: f64 = 0.5;
const POLARITY_DISCOUNT: f64 = 0.5;

const STOPWORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before",
    "being", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "during", "each", "few", "for", "from", "further", "had",
    "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
    "just", "ll", "me", "more", "most", "my", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "re",
    "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "until", "up", "ve", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "whose", "why", "will", "with", "would", "you", "your", "yours",
    // Negations: not content; they set a sentence's polarity instead.
    "not", "no", "nor", "never", "rarely", "seldom", "hardly", "barely", "cannot", "don", "doesn", "didn", "isn", "aren", "wasn", "weren",
    "won", "wouldn", "shouldn", "couldn", "hasn", "haven", "hadn",
];

/// Words that frame a question rather than carry its content.
const QUESTION_FRAMING: &[&str] = &[
    "speaker",
    "say",
    "says",
    "said",
    "according",
    "mention",
    "mentions",
    "mentioned",
    "video",
    "talk",
    "clip",
    "tell",
    "tells",
    "state",
    "states",
    "stated",
];

const NEGATIONS: &[&str] = &[
    "not", "no", "nor", "never", "neither", "none", "nobody", "nothing", "nowhere", "rarely", "seldom", "hardly", "barely", "cannot",
    "without",
];

/// `choose_by_text(question, options, evidence = [])`.
pub struct ChooseByText {
    sig: Signature,
}

impl ChooseByText {
    /// The module.
    pub fn new() -> ChooseByText {
        let sig = Signature::new(
            "choose_by_text",
            "1.0.0",
            Returns::Is(Type::Choice),
            "Picks the option best supported by the words of the evidence (a lexical baseline, no language model).
A deterministic BM25-style word-overlap scorer, not a reader: it does not \
understand paraphrase or reasoning. Each option is scored by its words that \
occur in the evidence (cues of timed text, sentences of text, or the \
`describe` rendering of other values), weighting rare words more (idf over the \
evidence cues), weighting cues by their score when they have one, favouring \
cues that also mention the question's words, and halving the weight of \
evidence whose negation (\"not\", \"never\", \"rarely\", ...) disagrees with the \
question and option. `scores` holds the raw score of every option; \
`confidence` is the chosen option's share of softmax(score / 2) over all \
options (in (0, 1]; shares sum to 1). Ties go to the lowest index; with no \
overlap every option gets 1/n and the first is chosen. No options is an error.",
        )
        .param(Param::of("question", Type::Text, "The question being answered."))
        .param(Param::of("options", Type::list(Type::Text), "The candidate answers."))
        .param(
            Param::of(
                "evidence",
                Type::Any,
                "What the answer should be supported by: timed text, text, or any other value or list of values.",
            )
            .default(Value::List(Arc::new(Vec::new()))),
        );
        ChooseByText { sig }
    }
}

impl Default for ChooseByText {
    fn default() -> Self {
        ChooseByText::new()
    }
}

#[async_trait]
impl Module for ChooseByText {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let question = args.text("question")?;
        let options = args.texts("options")?;
        let evidence = match args.get("evidence") {
            Some(v) => v.clone(),
            None => Value::List(Arc::new(Vec::new())),
        };
        let choice = ctx.blocking(move || choose_lexically(&question, &options, &evidence)).await?;
        Ok(Value::Choice(Arc::new(choice)))
    }
}

/// Scores `options` against `evidence` as `choose_by_text` does and picks one.
pub fn choose_lexically(question: &str, options: &[String], evidence: &Value) -> Result<Choice, ModuleError> {
    if options.is_empty() {
        return Err(ModuleError::invalid("options", "choose_by_text: there are no options to choose from"));
    }
    let mut docs = Vec::new();
    evidence_docs(evidence, &mut docs);
    if docs.iter().all(|d| d.tokens.is_empty()) {
        tracing::warn!("choose_by_text: the evidence has no words; every option scores 0");
    }
    let scores = score_options(question, options, &docs);
    let (index, _) = scores.iter().enumerate().fold((0, f64::NEG_INFINITY), |(bi, bs), (i, &s)| if s > bs { (i, s) } else { (bi, bs) });
    let probs = softmax(&scores, TEMPERATURE);
    Ok(Choice {
        index,
        option: options.get(index).cloned().unwrap_or_default(),
        confidence: probs.get(index).copied().unwrap_or(0.0),
        scores,
        method: METHOD.to_string(),
    })
}

/// `softmax(x / temperature)`, numerically stable; uniform if degenerate.
pub fn softmax(scores: &[f64], temperature: f64) -> Vec<f64> {
    let n = scores.len();
    if n == 0 {
        return Vec::new();
    }
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| ((s - max) / temperature).exp()).collect();
    let sum: f64 = exps.iter().sum();
    if !sum.is_finite() || sum <= 0.0 || !max.is_finite() {
        return vec![1.0 / n as f64; n];
    }
    exps.iter().map(|e| e / sum).collect()
}

/// One evidence document.
struct Doc {
    /// Token counts.
    tf: BTreeMap<String, usize>,
    /// Tokens in order (for the length).
    tokens: Vec<String>,
    /// Weight (a cue's score, else 1).
    weight: f64,
    /// Whether the sentence it belongs to is negated.
    negated: bool,
}

impl Doc {
    fn new(text: &str, weight: f64, negated: bool) -> Doc {
        let tokens = tokenize(text);
        let mut tf = BTreeMap::new();
        for t in &tokens {
            *tf.entry(t.clone()).or_insert(0) += 1;
        }
        Doc { tf, tokens, weight, negated }
    }
}

fn ends_sentence(text: &str) -> bool {
    let t = text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '»'));
    t.ends_with(['.', '?', '!', '…'])
}

fn split_sentences(text: &str) -> Vec<&str> {
    text.split(['.', '?', '!', '…', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Longest gap between two cues that can still continue one sentence.
const MAX_SENTENCE_GAP: f64 = 1.0;

/// Splits `evidence` into documents.
fn evidence_docs(evidence: &Value, out: &mut Vec<Doc>) {
    let mut cues: Vec<&Cue> = Vec::new();
    collect_docs(evidence, out, &mut cues);
    cue_docs(&cues, out);
}

/// Adds the documents of non-cue values to `out` and gathers cues (of timed
/// text at any depth of lists, in order) into `cues`, so that the cues of a
/// list of one-cue timed texts (what a comprehension over subtitles gives)
/// are seen as one stream.
fn collect_docs<'a>(v: &'a Value, out: &mut Vec<Doc>, cues: &mut Vec<&'a Cue>) {
    match v {
        Value::TimedText(t) => cues.extend(t.cues.iter()),
        Value::Text(s) => {
            for sentence in split_sentences(s) {
                out.push(Doc::new(sentence, 1.0, is_negated(sentence)));
            }
        }
        Value::Choice(c) => out.push(Doc::new(&c.option, 1.0, is_negated(&c.option))),
        Value::List(items) => {
            for item in items.iter() {
                collect_docs(item, out, cues);
            }
        }
        other => {
            for line in describe(other).lines() {
                if !line.trim().is_empty() {
                    out.push(Doc::new(line, 1.0, is_negated(line)));
                }
            }
        }
    }
}

/// One document per cue. For polarity, consecutive cues are joined into
/// sentences: a cue continues the previous one when that one does not end
/// with `.`, `?` or `!`, both come from the same source, and the gap between
/// them is at most [`MAX_SENTENCE_GAP`].
fn cue_docs(cues: &[&Cue], out: &mut Vec<Doc>) {
    let mut sentence: Vec<&Cue> = Vec::new();
    let flush = |sentence: &mut Vec<&Cue>, out: &mut Vec<Doc>| {
        let negated = sentence.iter().any(|c| is_negated(&c.text));
        for c in sentence.drain(..) {
            let weight = match c.score {
                Some(s) if s.is_finite() => s.max(0.0),
                _ => 1.0,
            };
            out.push(Doc::new(&c.text, weight, negated));
        }
    };
    for cue in cues {
        let continues = sentence.last().is_some_and(|prev| {
            !ends_sentence(&prev.text) && prev.source == cue.source && cue.start >= prev.start && cue.start - prev.end <= MAX_SENTENCE_GAP
        });
        if !continues {
            flush(&mut sentence, out);
        }
        sentence.push(cue);
    }
    flush(&mut sentence, out);
}

/// Whether `text` holds a negation word or an `n't` contraction.
fn is_negated(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’').to_lowercase();
        let w = w.trim_matches(|c: char| c == '\'' || c == '’');
        w.ends_with("n't") || w.ends_with("n’t") || NEGATIONS.contains(&w)
    })
}

/// Lowercased, stopword-free, crudely stemmed word tokens of `text`.
fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| w.chars().count() > 1 || w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !STOPWORDS.contains(w))
        .map(stem)
        .collect()
}

/// A crude suffix-stripping stemmer (enough to match "caused" with "cause"
/// and "strikes" with "strike").
fn stem(word: &str) -> String {
    let len = word.chars().count();
    let suffix = |min_len: usize, suffix: &str| {
        if len > min_len {
            word.strip_suffix(suffix)
        } else {
            None
        }
    };
    let mut w = if let Some(s) = suffix(4, "ies") {
        format!("{s}y")
    } else if let Some(s) = suffix(5, "ing").or_else(|| suffix(6, "ly")).or_else(|| suffix(4, "ed")) {
        s.to_string()
    } else if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        word.to_string()
    } else {
        suffix(3, "s").unwrap_or(word).to_string()
    };
    if w.chars().count() > 4 && w.ends_with('e') {
        w.pop();
    }
    w
}

fn score_options(question: &str, options: &[String], docs: &[Doc]) -> Vec<f64> {
    let n = docs.len() as f64;
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for d in docs {
        for t in d.tf.keys() {
            *df.entry(t.as_str()).or_insert(0) += 1;
        }
    }
    let idf = |t: &str| -> f64 {
        let k = df.get(t).copied().unwrap_or(0) as f64;
        (1.0 + (n - k + 0.5) / (k + 0.5)).ln()
    };
    let total_len: usize = docs.iter().map(|d| d.tokens.len()).sum();
    let avgdl = if docs.is_empty() || total_len == 0 { 1.0 } else { total_len as f64 / n };

    let question_tokens: BTreeSet<String> = tokenize(question)
        .into_iter()
        .filter(|t| !QUESTION_FRAMING.contains(&t.as_str()))
        .filter(|t| df.contains_key(t.as_str()))
        .collect();
    let question_negated = is_negated(question);

    options
        .iter()
        .map(|option| {
            let option_tokens: BTreeSet<String> = tokenize(option).into_iter().collect();
            let claim_negated = question_negated != is_negated(option);
            let context: Vec<(&str, f64)> =
                question_tokens.iter().filter(|t| !option_tokens.contains(*t)).map(|t| (t.as_str(), idf(t))).collect();
            let context_mass: f64 = context.iter().map(|(_, w)| w).sum();
            docs.iter()
                .map(|d| {
                    let dl = d.tokens.len() as f64;
                    let overlap: f64 = option_tokens
                        .iter()
                        .filter_map(|t| d.tf.get(t).map(|&tf| (t, tf as f64)))
                        .map(|(t, tf)| {
                            idf(t) * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / avgdl))
                        })
                        .sum();
                    if overlap <= 0.0 {
                        return 0.0;
                    }
                    let q = if context_mass > 0.0 {
                        context
                            .iter()
                            .filter(|(t, _)| d.tf.contains_key(*t))
                            .map(|(_, w)| w)
                            .sum::<f64>()
                            / context_mass
                    } else {
                        0.0
                    };
                    let polarity = if d.negated == claim_negated {
                        1.0
                    } else {
                        POLARITY_DISCOUNT
                    };
                    d.weight * polarity * overlap * (1.0 + QUESTION_BONUS * q)
                })
                .sum::<f64>()
                // An empty sum is -0.0; report a plain 0.
                + 0.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_tokens() {
        assert_eq!(stem("caused"), stem("cause"));
        assert_eq!(stem("strikes"), stem("strike"));
        assert_eq!(stem("entries"), "entry");
        assert_eq!(stem("success"), "success");
        assert_eq!(tokenize("I've spent nearly two decades"), vec!["spent", "nearly", "two", "decad"]);
    }

    #[test]
    fn negation_detection() {
        assert!(is_negated("that luck is rarely a lightning strike,"));
        assert!(is_negated("It isn't chance"));
        assert!(is_negated("It isn’t chance"));
        assert!(!is_negated("Luck is defined as success"));
    }

    #[test]
    fn softmax_is_a_distribution() {
        let p = softmax(&[1.0, 3.0, 3.0], 2.0);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[1] > p[0] && (p[1] - p[2]).abs() < 1e-15);
        assert_eq!(softmax(&[0.0, 0.0], 2.0), vec![0.5, 0.5]);
    }
}
