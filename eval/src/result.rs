//! One finished item: what each path answered, how long it took, and
//! whether it was right. A line of `results.jsonl`.

use serde::{Deserialize, Serialize};
use vprog_planner::calibrate::Observation;
use vprog_planner::fast_slow::{AnswerPath, Reasoning};
use vprog_planner::mcts::Rollout;

use crate::set::Item;

/// One path's result on one item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathResult {
    /// Its answer (an option's text).
    pub answer: Option<String>,
    /// Its confidence.
    pub confidence: f64,
    /// Whether it was right.
    pub correct: bool,
    /// Seconds it took.
    pub seconds: f64,
    /// Language-model requests it made.
    pub llm_calls: usize,
    /// Why it gave no answer.
    pub error: Option<String>,
}

/// One finished item: a line of `results.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemResult {
    /// The item's id.
    pub id: String,
    /// Its position in the set.
    pub index: usize,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The question.
    pub question: String,
    /// The right option.
    pub expected: String,
    /// The answer given.
    pub answer: Option<String>,
    /// Whether it was right.
    pub correct: bool,
    /// Which path answered.
    pub path: Option<AnswerPath>,
    /// Why.
    pub reason: String,
    /// The answer's confidence.
    pub confidence: f64,
    /// The fast path, when it ran.
    pub fast: Option<PathResult>,
    /// The slow path, when it ran.
    pub slow: Option<PathResult>,
    /// Seconds for the item (reasoning and trace).
    pub seconds: f64,
    /// Language-model requests.
    pub llm_calls: usize,
    /// The trace directory, relative to the output directory.
    pub trace: String,
    /// Why the item could not run (unreadable video, ...).
    pub error: Option<String>,
}

fn path_result(r: &Rollout, seconds: f64, llm_calls: usize, expected: &str) -> PathResult {
    PathResult {
        answer: r.answer.clone(),
        confidence: r.confidence,
        correct: r.answer.as_deref().is_some_and(|a| a.trim() == expected.trim()),
        seconds,
        llm_calls,
        error: r.error.clone(),
    }
}

/// The result of `item` answered by `r` in `seconds`, its trace in `trace`.
pub fn item_result(item: &Item, r: &Reasoning, seconds: f64, trace: String) -> ItemResult {
    let expected = item.options[item.answer].clone();
    let fast = r.fast.as_ref().map(|f| path_result(f, r.fast_seconds, r.fast_llm_calls, &expected));
    let slow = r.search.as_ref().map(|_| match &r.slow {
        Some(s) => path_result(s, r.slow_seconds, r.slow_llm_calls, &expected),
        None => PathResult {
            answer: None,
            confidence: 0.0,
            correct: false,
            seconds: r.slow_seconds,
            llm_calls: r.slow_llm_calls,
            error: r.slow_error.clone(),
        },
    });
    ItemResult {
        id: item.id.clone(),
        index: item.index,
        kind: item.kind.clone(),
        question: item.question.clone(),
        correct: r.answer.as_deref().is_some_and(|a| a.trim() == expected.trim()),
        expected,
        answer: r.answer.clone(),
        path: r.path,
        reason: r.reason.clone(),
        confidence: r.confidence,
        fast,
        slow,
        seconds,
        llm_calls: r.llm_calls,
        trace,
        error: None,
    }
}

/// The result of an item that could not run.
pub fn failed_item(item: &Item, error: String, seconds: f64) -> ItemResult {
    ItemResult {
        id: item.id.clone(),
        index: item.index,
        kind: item.kind.clone(),
        question: item.question.clone(),
        expected: item.options[item.answer].clone(),
        answer: None,
        correct: false,
        path: None,
        reason: error.clone(),
        confidence: 0.0,
        fast: None,
        slow: None,
        seconds,
        llm_calls: 0,
        trace: String::new(),
        error: Some(error),
    }
}

/// The observation of one item run with both paths.
pub fn observation(r: &ItemResult) -> Option<Observation> {
    let (f, s) = (r.fast.as_ref()?, r.slow.as_ref()?);
    Some(Observation {
        fast: f.answer.as_ref().map(|_| f.confidence),
        fast_correct: f.correct,
        slow: s.answer.as_ref().map(|_| s.confidence),
        slow_correct: s.correct,
        fast_seconds: f.seconds,
        slow_seconds: s.seconds,
        fast_llm_calls: f.llm_calls,
        slow_llm_calls: s.llm_calls,
    })
}
