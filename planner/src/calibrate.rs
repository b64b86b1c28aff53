//! Calibrating θ, the fast-confidence threshold of fast–slow reasoning.
//!
//! `vprog calibrate` runs a labelled set with both paths on every question
//! ([`crate::fast_slow::Mode::Compare`]); each question becomes an
//! [`Observation`]: the fast and slow confidences, whether each answer was
//! right, and what each path cost. Because `auto` decides from those
//! confidences alone ([`crate::fast_slow::decide`]), its accuracy and cost at
//! any θ follow exactly from the observations ([`simulate`]): the fast path
//! always runs, the slow path runs (and is paid for) when the fast
//! confidence is below θ. [`calibrate`] sweeps θ over the midpoints between
//! the observed fast confidences (plus 0 and 1) and keeps the most accurate
//! θ whose mean cost is within the budget; ties go to the cheaper, then the
//! lower θ.

use serde::{Deserialize, Serialize};

use crate::fast_slow::{decide, runs_slow, AnswerPath, Mode};

/// One labelled question answered by both paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The fast path's confidence, when it answered.
    pub fast: Option<f64>,
    /// Whether the fast answer was right.
    pub fast_correct: bool,
    /// The slow path's confidence, when it answered.
    pub slow: Option<f64>,
    /// Whether the slow answer was right.
    pub slow_correct: bool,
    /// Seconds the fast path took.
    pub fast_seconds: f64,
    /// Seconds the slow path took.
    pub slow_seconds: f64,
    /// Language-model requests of the fast path.
    pub fast_llm_calls: usize,
    /// Language-model requests of the slow path.
    pub slow_llm_calls: usize,
}

/// A limit on the mean cost per question; `None` fields are unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CostBudget {
    /// Most mean seconds per question.
    pub mean_seconds: Option<f64>,
    /// Most mean language-model requests per question.
    pub mean_llm_calls: Option<f64>,
}

/// `auto` at one θ over a set of observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The threshold.
    pub theta: f64,
    /// Share of questions answered right.
    pub accuracy: f64,
    /// Share of questions on which the slow path ran.
    pub slow_share: f64,
    /// Share answered by each path (fast, slow, fallback).
    pub paths: [f64; 3],
    /// Mean seconds per question.
    pub mean_seconds: f64,
    /// Mean language-model requests per question.
    pub mean_llm_calls: f64,
    /// Whether the mean cost is within the budget.
    pub within_budget: bool,
}

/// A chosen θ with the evidence for it; what `vprog calibrate` stores and
/// `vprog ask` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Schema tag, `vprog.calibration/1`.
    pub schema: String,
    /// The threshold.
    pub theta: f64,
    /// `auto`'s accuracy at θ on the labelled set.
    pub accuracy: f64,
    /// Accuracy of the fast path alone.
    pub fast_accuracy: f64,
    /// Accuracy of the slow path alone (a question it gave no answer to is wrong).
    pub slow_accuracy: f64,
    /// Mean seconds per question at θ.
    pub mean_seconds: f64,
    /// Mean language-model requests per question at θ.
    pub mean_llm_calls: f64,
    /// Share of questions on which the slow path runs at θ.
    pub slow_share: f64,
    /// The budget θ was chosen under.
    pub budget: CostBudget,
    /// Questions it was calibrated on.
    pub questions: usize,
    /// Where the observations came from (labelled set, backend, settings).
    pub source: serde_json::Value,
    /// `auto` at every θ tried.
    pub curve: Vec<Point>,
}

/// The schema tag of [`Calibration`].
pub const SCHEMA: &str = "vprog.calibration/1";

/// Why no θ could be chosen.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrateError {
    /// There were no observations.
    #[error("there are no questions answered by both paths to calibrate on (run the set with --mode compare)")]
    Empty,
    /// Even the cheapest θ costs more than the budget.
    #[error("no θ keeps the mean cost within the budget: the cheapest (θ = 0, fast path only) takes {seconds:.1} s and {llm_calls:.1} language-model requests per question")]
    OverBudget {
        /// Mean seconds of the fast path alone.
        seconds: f64,
        /// Mean language-model requests of the fast path alone.
        llm_calls: f64,
    },
}

/// `auto` at `theta` over `obs` (not empty), with `budget` for `within_budget`.
pub fn simulate(obs: &[Observation], theta: f64, budget: &CostBudget) -> Point {
    let n = obs.len().max(1) as f64;
    let (mut right, mut slow_runs, mut seconds, mut calls) = (0usize, 0usize, 0f64, 0usize);
    let mut paths = [0usize; 3];
    for o in obs {
        let slow_ran = runs_slow(Mode::Auto, theta, o.fast);
        seconds += o.fast_seconds;
        calls += o.fast_llm_calls;
        if slow_ran {
            slow_runs += 1;
            seconds += o.slow_seconds;
            calls += o.slow_llm_calls;
        }
        let slow = if slow_ran { o.slow } else { None };
        let correct = match decide(Mode::Auto, theta, o.fast, slow) {
            Some(AnswerPath::Fast) => {
                paths[0] += 1;
                o.fast_correct
            }
            Some(AnswerPath::Slow) => {
                paths[1] += 1;
                o.slow_correct
            }
            Some(AnswerPath::Fallback) => {
                paths[2] += 1;
                o.fast_correct
            }
            None => false,
        };
        right += usize::from(correct);
    }
    let mean_seconds = seconds / n;
    let mean_llm_calls = calls as f64 / n;
    let within_budget =
        budget.mean_seconds.is_none_or(|m| mean_seconds <= m + 1e-9) && budget.mean_llm_calls.is_none_or(|m| mean_llm_calls <= m + 1e-9);
    Point {
        theta,
        accuracy: right as f64 / n,
        slow_share: slow_runs as f64 / n,
        paths: paths.map(|p| p as f64 / n),
        mean_seconds,
        mean_llm_calls,
        within_budget,
    }
}

/// The thresholds worth trying: 0, 1 and the midpoints between adjacent
/// distinct fast confidences (each splits the questions differently).
pub fn thresholds(obs: &[Observation]) -> Vec<f64> {
    let mut confs: Vec<f64> = obs.iter().filter_map(|o| o.fast).filter(|c| c.is_finite()).collect();
    confs.sort_by(f64::total_cmp);
    confs.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    let mut out = vec![0.0];
    out.extend(confs.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    out.push(1.0);
    out.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    out
}

/// Chooses θ on `obs` under `budget`; `source` records where the
/// observations came from.
pub fn calibrate(obs: &[Observation], budget: CostBudget, source: serde_json::Value) -> Result<Calibration, CalibrateError> {
    if obs.is_empty() {
        return Err(CalibrateError::Empty);
    }
    let curve: Vec<Point> = thresholds(obs).into_iter().map(|t| simulate(obs, t, &budget)).collect();
    let best = curve
        .iter()
        .filter(|p| p.within_budget)
        .min_by(|a, b| b.accuracy.total_cmp(&a.accuracy).then(a.mean_seconds.total_cmp(&b.mean_seconds)).then(a.theta.total_cmp(&b.theta)))
        .cloned();
    let Some(best) = best else {
        let cheapest = simulate(obs, 0.0, &budget);
        return Err(CalibrateError::OverBudget { seconds: cheapest.mean_seconds, llm_calls: cheapest.mean_llm_calls });
    };
    let n = obs.len() as f64;
    Ok(Calibration {
        schema: SCHEMA.to_string(),
        theta: best.theta,
        accuracy: best.accuracy,
        fast_accuracy: obs.iter().filter(|o| o.fast.is_some() && o.fast_correct).count() as f64 / n,
        slow_accuracy: obs.iter().filter(|o| o.slow.is_some() && o.slow_correct).count() as f64 / n,
        mean_seconds: best.mean_seconds,
        mean_llm_calls: best.mean_llm_calls,
        slow_share: best.slow_share,
        budget,
        questions: obs.len(),
        source,
        curve,
    })
}

impl Calibration {
    /// What `vprog calibrate` prints: θ and auto's accuracy, each path alone,
    /// the slow share and cost at θ, and the curve over every θ tried.
    pub fn report_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("θ = {:.4}: auto accuracy {:.1}% on {} questions", self.theta, 100.0 * self.accuracy, self.questions),
            format!("  fast only {:.1}%, slow only {:.1}%", 100.0 * self.fast_accuracy, 100.0 * self.slow_accuracy),
            format!(
                "  slow path on {:.0}% of questions; mean {:.1} s, {:.1} language-model requests per question",
                100.0 * self.slow_share,
                self.mean_seconds,
                self.mean_llm_calls
            ),
            "  θ     accuracy  slow   s/question  requests".to_string(),
        ];
        for p in &self.curve {
            lines.push(format!(
                "  {:.3}  {:>6.1}%  {:>4.0}%  {:>9.1}  {:>8.1}{}",
                p.theta,
                100.0 * p.accuracy,
                100.0 * p.slow_share,
                p.mean_seconds,
                p.mean_llm_calls,
                if p.within_budget { "" } else { "  (over budget)" }
            ));
        }
        lines
    }

    /// Reads a stored calibration, checking its schema and θ.
    pub fn from_json(text: &str) -> Result<Calibration, String> {
        let c: Calibration = serde_json::from_str(text).map_err(|e| format!("not a vprog calibration: {e}"))?;
        if c.schema != SCHEMA {
            return Err(format!("calibration schema `{}`, expected `{SCHEMA}`", c.schema));
        }
        if !(0.0..=1.0).contains(&c.theta) {
            return Err(format!("θ = {} is outside [0, 1]", c.theta));
        }
        Ok(c)
    }
}

/// The calibration shipped with vprog: `vprog calibrate` on the dev split
/// of the labelled set (`examples/bench/dev.jsonl`) with the default models
/// (`planner/calibration.json`).
pub const SHIPPED: &str = include_str!("../calibration.json");

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(fast: f64, fast_correct: bool, slow: Option<f64>, slow_correct: bool) -> Observation {
        Observation {
            fast: Some(fast),
            fast_correct,
            slow,
            slow_correct,
            fast_seconds: 1.0,
            slow_seconds: 10.0,
            fast_llm_calls: 1,
            slow_llm_calls: 5,
        }
    }

    /// Fast is right when confident (0.9, 0.8), wrong when not (0.3, 0.4),
    /// where the slow path is right; one slow failure falls back.
    fn set() -> Vec<Observation> {
        vec![
            obs(0.9, true, Some(0.5), false),
            obs(0.8, true, Some(0.6), true),
            obs(0.3, false, Some(0.7), true),
            obs(0.4, false, Some(0.8), true),
            obs(0.35, true, None, false),
        ]
    }

    #[test]
    fn simulation_follows_the_decision_rule() {
        let b = CostBudget::default();
        let fast_only = simulate(&set(), 0.0, &b);
        assert_eq!((fast_only.accuracy, fast_only.slow_share, fast_only.mean_seconds), (0.6, 0.0, 1.0));
        let p = simulate(&set(), 0.6, &b);
        // 0.9, 0.8 fast; 0.3 and 0.4 slow (more confident, right); 0.35 falls back (right).
        assert_eq!(p.accuracy, 1.0);
        assert_eq!(p.paths, [0.4, 0.4, 0.2]);
        assert!((p.mean_seconds - (5.0 + 30.0) / 5.0).abs() < 1e-9);
        assert!((p.mean_llm_calls - (5.0 + 15.0) / 5.0).abs() < 1e-9);
        // θ = 1: the slow path runs everywhere, and wins only where more confident.
        let all = simulate(&set(), 1.0, &b);
        assert_eq!(all.slow_share, 1.0);
        assert_eq!(all.accuracy, 1.0);
    }

    #[test]
    fn calibration_picks_the_best_theta_within_budget() {
        let c = calibrate(&set(), CostBudget::default(), serde_json::json!({})).expect("calibrates");
        assert_eq!(c.accuracy, 1.0);
        // The cheapest θ with full accuracy sends only the three unsure questions to the slow path.
        assert!(c.theta > 0.4 && c.theta < 0.8, "θ = {}", c.theta);
        assert_eq!(c.slow_share, 0.6);
        assert_eq!((c.fast_accuracy, c.slow_accuracy), (0.6, 0.6));
        // A budget of 5 s a question allows one slow run in five.
        let tight = CostBudget { mean_seconds: Some(3.0), mean_llm_calls: None };
        let c = calibrate(&set(), tight, serde_json::json!({})).expect("calibrates");
        assert!(c.mean_seconds <= 3.0 && c.slow_share <= 0.2, "{c:?}");
        assert_eq!(c.accuracy, 0.8);
        let impossible = CostBudget { mean_seconds: Some(0.5), mean_llm_calls: None };
        assert!(matches!(calibrate(&set(), impossible, serde_json::json!({})), Err(CalibrateError::OverBudget { .. })));
        assert_eq!(calibrate(&[], CostBudget::default(), serde_json::json!({})), Err(CalibrateError::Empty));
    }

    #[test]
    fn stored_calibrations_round_trip_and_bad_ones_are_refused() {
        let c = calibrate(&set(), CostBudget::default(), serde_json::json!({"bench": "x"})).expect("calibrates");
        let text = serde_json::to_string(&c).expect("serialises");
        assert_eq!(Calibration::from_json(&text), Ok(c.clone()));
        assert!(Calibration::from_json("{").is_err());
        let other = text.replace(SCHEMA, "vprog.calibration/9");
        assert!(Calibration::from_json(&other).expect_err("refused").contains("schema"));
    }
}
