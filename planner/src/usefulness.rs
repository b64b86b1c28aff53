//! Whether a valid program is *useful* for its question, judged from the
//! program and the question alone (no video), so planner quality can be
//! measured on questions whose videos are not here.
//!
//! The rubric (README, "Planner quality"):
//! 1. **Evidence.** The answer depends on the video: some step the answer
//!    needs reads `video`. `choose(question, options)` alone guesses.
//! 2. **Relevant evidence.** Some step the answer needs is a module suited
//!    to the question's kind ([`QuestionKind`]), among those registered:
//!    - counting ("how many"): `detect`, `track`, `count` or `segment`;
//!    - temporal (before, after, when, while, then, next, first, last, ...):
//!      `before`, `after`, `during`, `trim`, `trim_after`, `trim_before`,
//!      `trim_around` or `split`;
//!    - speech (say, said, talk, mention, ...): `subtitles`, `transcribe` or
//!      `retrieve_subtitles`;
//!    - on-screen text (written, sign, title, screen, ...): `read_text`;
//!    - descriptive (what, why, how, where, who, ...): a captioner or frame
//!      retriever (`caption`, `retrieve_frames`) when one is registered,
//!      else what sees the picture (`detect`, `segment`, `track`,
//!      `read_text`).
//! 3. **The question's entities.** The program reads `question` (an
//!    answering or retrieval module is given the whole text), or a text
//!    literal of it names one of the question's content words (`detect(frames,
//!    "dog")` for "what is the dog doing").
//!
//! A program is useful when it meets all three.

use std::collections::BTreeSet;

use serde::Serialize;
use vprog_runtime::dataflow::{Dataflow, Input, Op};
use vprog_runtime::{Registry, Value};

/// What a question asks about, for choosing the evidence it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// "How many ...".
    Counting,
    /// About order in time: before, after, when, while, ...
    Temporal,
    /// About what is said.
    Speech,
    /// About text shown on screen.
    OnScreenText,
    /// About what is seen: what, why, how, where, who.
    Descriptive,
}

impl QuestionKind {
    /// The kind's name, as summaries print it.
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Counting => "counting",
            QuestionKind::Temporal => "temporal",
            QuestionKind::Speech => "speech",
            QuestionKind::OnScreenText => "on_screen_text",
            QuestionKind::Descriptive => "descriptive",
        }
    }

    /// The modules that give this kind of question its evidence, among
    /// those `registry` has.
    pub fn relevant_modules(self, registry: &Registry) -> Vec<&'static str> {
        let has = |m: &&str| registry.get(m).is_some_and(|m| m.missing_model().is_none());
        let list: &[&'static str] = match self {
            QuestionKind::Counting => &["detect", "track", "count", "segment"],
            QuestionKind::Temporal => {
                &["before", "after", "during", "trim", "trim_after", "trim_before", "trim_around", "split", "retrieve_clips"]
            }
            QuestionKind::Speech => &["subtitles", "transcribe", "retrieve_subtitles"],
            QuestionKind::OnScreenText => &["read_text"],
            QuestionKind::Descriptive => {
                let seeing: Vec<&'static str> = ["caption", "retrieve_frames", "retrieve_clips"].into_iter().filter(has).collect();
                if !seeing.is_empty() {
                    return seeing;
                }
                &["detect", "segment", "track", "read_text"]
            }
        };
        list.iter().copied().filter(has).collect()
    }
}

/// Words that make a question temporal.
const TEMPORAL: &[&str] = &[
    "before",
    "after",
    "when",
    "while",
    "then",
    "next",
    "previous",
    "previously",
    "first",
    "last",
    "finally",
    "begin",
    "beginning",
    "end",
    "ending",
    "start",
    "starts",
    "started",
    "later",
    "earlier",
    "during",
    "until",
];
/// Words that make a question about speech.
const SPEECH: &[&str] = &[
    "say",
    "said",
    "says",
    "saying",
    "talk",
    "talks",
    "talking",
    "mention",
    "mentions",
    "mentioned",
    "speaker",
    "speak",
    "speaks",
    "tell",
    "tells",
    "told",
    "words",
];
/// Words that make a question about on-screen text.
const ON_SCREEN: &[&str] = &["written", "write", "sign", "title", "screen", "text", "caption", "subtitle", "label", "logo", "banner"];
/// Words that carry no entity.
const STOPWORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "into",
    "onto",
    "as",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "do",
    "does",
    "did",
    "doing",
    "done",
    "what",
    "why",
    "how",
    "where",
    "who",
    "whom",
    "which",
    "when",
    "while",
    "whose",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "it",
    "its",
    "his",
    "her",
    "their",
    "them",
    "they",
    "he",
    "she",
    "him",
    "we",
    "you",
    "i",
    "me",
    "my",
    "our",
    "your",
    "video",
    "clip",
    "scene",
    "many",
    "much",
    "after",
    "before",
    "then",
    "next",
    "first",
    "last",
    "end",
    "beginning",
    "start",
    "about",
    "some",
    "any",
    "all",
    "other",
    "another",
    "one",
    "two",
    "has",
    "have",
    "had",
    "can",
    "could",
    "would",
    "should",
    "will",
    "not",
    "no",
    "yes",
    "so",
    "up",
    "down",
    "out",
    "over",
    "just",
    "also",
    "still",
    "happen",
    "happens",
    "happened",
    "way",
    "kind",
    "type",
    "part",
];

/// The kind of `question`, from its words: counting, then temporal, speech
/// and on-screen text in that order, else descriptive.
pub fn question_kind(question: &str) -> QuestionKind {
    let lower = question.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let any = |list: &[&str]| words.iter().any(|w| list.contains(w));
    if lower.contains("how many") {
        QuestionKind::Counting
    } else if any(TEMPORAL) {
        QuestionKind::Temporal
    } else if any(SPEECH) {
        QuestionKind::Speech
    } else if any(ON_SCREEN) {
        QuestionKind::OnScreenText
    } else {
        QuestionKind::Descriptive
    }
}

/// The content words of `question` (not stop words, at least 3 letters).
pub fn entities(question: &str) -> Vec<String> {
    let lower = question.to_lowercase();
    let mut out: Vec<String> = Vec::new();
    for w in lower.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(w)) {
        if !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// The judgement of one program.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Judgement {
    /// The question's kind.
    pub kind: QuestionKind,
    /// The modules the answer depends on (map bodies included), sorted.
    pub modules: Vec<String>,
    /// The answer depends on the video.
    pub evidence: bool,
    /// The modules relevant to the kind, among the registered ones.
    pub relevant_modules: Vec<&'static str>,
    /// The answer depends on one of them.
    pub relevant: bool,
    /// The program reads the question, or a text literal names one of its
    /// content words.
    pub entities: bool,
    /// All three.
    pub useful: bool,
}

/// Judges `plan` (a checked program) for `question`, with the modules of
/// `registry` ([module docs](self) give the rubric).
pub fn judge(question: &str, plan: &Dataflow, registry: &Registry) -> Judgement {
    let mut used = Used::default();
    collect(plan, &mut used);
    let kind = question_kind(question);
    let relevant_modules = kind.relevant_modules(registry);
    let relevant = relevant_modules.iter().any(|m| used.modules.contains(*m));
    let content = entities(question);
    let named = used.texts.iter().any(|t| {
        let t = t.to_lowercase();
        content.iter().any(|w| t.contains(w.as_str()) || (w.len() > 4 && t.contains(&w[..w.len() - 1])))
    });
    let entities = used.question || named;
    Judgement {
        kind,
        modules: used.modules.into_iter().collect(),
        evidence: used.video,
        relevant_modules,
        relevant,
        entities,
        useful: used.video && relevant && entities,
    }
}

/// What the answer of a dataflow depends on.
#[derive(Default)]
struct Used {
    modules: BTreeSet<String>,
    video: bool,
    question: bool,
    texts: Vec<String>,
}

/// Adds what `plan`'s output (and filter) depend on to `used`, map bodies
/// included.
fn collect(plan: &Dataflow, used: &mut Used) {
    let mut stack: Vec<_> = std::iter::once(plan.output).chain(plan.filter).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        match &plan.graph[n].op {
            Op::Input(Input::Video) => used.video = true,
            Op::Input(Input::Question) => used.question = true,
            Op::Input(Input::Options) => {}
            Op::Const(v) => push_texts(v, &mut used.texts),
            Op::Call { module, params, variadic } => {
                used.modules.insert(module.signature().name.to_string());
                // Default parameters are not the program's words.
                for (name, v) in params {
                    let default = module.signature().params.iter().find(|p| p.name == name).and_then(|p| p.default.as_ref());
                    let is_default = matches!((default, v), (Some(Value::Text(d)), Value::Text(t)) if d == t);
                    if !is_default {
                        push_texts(v, &mut used.texts);
                    }
                }
                variadic.iter().flatten().for_each(|v| push_texts(v, &mut used.texts));
            }
            Op::Map { body, .. } => collect(body, used),
            Op::List | Op::Element | Op::Capture(_) => {}
        }
        stack.extend(plan.inputs(n).into_iter().map(|(_, from)| from));
    }
}

fn push_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Text(t) => out.push(t.to_string()),
        Value::List(items) => items.iter().for_each(|i| push_texts(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_entities() {
        assert_eq!(question_kind("How many people walk through the scene?"), QuestionKind::Counting);
        assert_eq!(question_kind("what did the boy do after he fell"), QuestionKind::Temporal);
        assert_eq!(question_kind("What does the speaker say luck is?"), QuestionKind::Speech);
        assert_eq!(question_kind("What is written on the sign?"), QuestionKind::OnScreenText);
        assert_eq!(question_kind("why did the dog bark"), QuestionKind::Descriptive);
        assert_eq!(entities("why did the boy pick up one present from the group"), ["boy", "pick", "present", "group"]);
    }
}
