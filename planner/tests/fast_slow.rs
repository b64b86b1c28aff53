//! Fast–slow reasoning on the real TED talk: the fast path is the real
//! direct-answer program (subtitles, OCR and people detection on sampled
//! frames, `choose` on SmolLM2-135M); the slow path's programs come from a
//! scripted planner, so which path answers is known.
//!
//! Three test modules make the slow path's outcome certain: `oracle` answers
//! with confidence 1 (above any fast confidence below θ = 1), `boom` always
//! fails, and `peaked`'s confidence grows with its searchable `k`.
//!
//! Needs the media (`bash scripts/fetch-media.sh`) and the models
//! (`scripts/fetch-models.sh`, `VPROG_MODELS`).

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use vprog_planner::fast_slow::{param_search, reason, AnswerPath, Mode, ReasonConfig, Strategy, Theta};
use vprog_planner::mcts::SearchConfig;
use vprog_planner::prompt::Question;
use vprog_planner::scripted::ScriptedBackend;
use vprog_planner::search::{run_program, Budget};
use vprog_planner::{Planner, PlannerConfig};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, Executor, RunInputs};
use vprog_runtime::value::Choice;
use vprog_runtime::{Args, Module, ModuleError, Param, Registry, Returns, Signature, StepContext, Type, Value};

const SMALL_MODEL: &str = "smollm2-135m-instruct";

/// Picks option 2 with confidence 1.
struct Oracle(Signature);

#[async_trait]
impl Module for Oracle {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let options = args.texts("options")?;
        let choice =
            Choice { index: 2, option: options[2].clone(), confidence: 1.0, scores: vec![0.0; options.len()], method: "oracle".into() };
        Ok(Value::Choice(Arc::new(choice)))
    }
}

/// Always fails.
struct Boom(Signature);

#[async_trait]
impl Module for Boom {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, _args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        Err(ModuleError::Failed("boom: planted failure".into()))
    }
}

/// Picks option 0 with confidence k / 16: more confident the larger k.
struct Peaked(Signature);

#[async_trait]
impl Module for Peaked {
    fn signature(&self) -> &Signature {
        &self.0
    }
    async fn call(&self, args: Args, _ctx: &StepContext) -> Result<Value, ModuleError> {
        let options = args.texts("options")?;
        let k = match args.get("k") {
            Some(Value::Int(k)) => *k as f64,
            other => return Err(ModuleError::invalid("k", format!("{other:?}"))),
        };
        let choice = Choice {
            index: 0,
            option: options[0].clone(),
            confidence: k / 16.0,
            scores: vec![0.0; options.len()],
            method: "peaked".into(),
        };
        Ok(Value::Choice(Arc::new(choice)))
    }
}

fn registry() -> Arc<Registry> {
    let mut r = vprog_modules::registry();
    let options = || Param::of("options", Type::list(Type::Text), "The options.");
    let oracle = Signature::new("oracle", "1.0.0", Returns::Is(Type::Choice), "Test: option 2, certain.")
        .param(options())
        .param(Param::of("evidence", Type::Any, "Ignored.").optional());
    let boom = Signature::new("boom", "1.0.0", Returns::Is(Type::TimedText), "Test: always fails.").param(Param::of(
        "video",
        Type::Clip,
        "Ignored.",
    ));
    let peaked = Signature::new("peaked", "1.0.0", Returns::Is(Type::Choice), "Test: confidence k/16.")
        .param(options())
        .param(Param::of("k", Type::Int, "Confidence in sixteenths.").default(Value::Int(2)).range(1.0, 16.0).searchable(1.0, 16.0));
    r.register(Arc::new(Oracle(oracle))).expect("new name");
    r.register(Arc::new(Boom(boom))).expect("new name");
    r.register(Arc::new(Peaked(peaked))).expect("new name");
    Arc::new(r)
}

fn question() -> Question {
    let mut q = Question::new("What subject does the speaker say she teaches?").with_options(vec![
        "Entrepreneurship".into(),
        "Psychology".into(),
        "Statistics".into(),
        "Physics".into(),
        "Creative writing".into(),
    ]);
    q.video.subtitles = Some(true);
    q.video.audio = Some(true);
    q
}

struct Setup {
    planner: Planner,
    backend: Arc<ScriptedBackend>,
    executor: Executor,
    inputs: RunInputs,
}

/// A planner whose every reply is `program`.
fn setup(program: &'static str) -> Setup {
    let backend = Arc::new(ScriptedBackend::new("fixed", move |_, _| Ok(program.to_string())));
    let planner = Planner::new(backend.clone(), registry(), PlannerConfig { repair_rounds: 1, ..PlannerConfig::default() });
    let video = vprog_modules::video::open_video(&common::ted(), None).expect("the TED talk opens");
    let q = question();
    let inputs = RunInputs { video: Some(video), question: Some(q.text.clone()), options: Some(q.options.clone()) };
    let executor = Executor::new(Arc::new(Cache::new(None, 1 << 30)), ExecConfig::default());
    Setup { planner, backend, executor, inputs }
}

fn config(mode: Mode, theta: f64) -> ReasonConfig {
    ReasonConfig {
        mode,
        theta: Theta { value: theta, source: "test".into() },
        strategy: Strategy::Single,
        search: SearchConfig { iterations: 1, ..SearchConfig::default() },
        budget: Budget::default(),
        answer_model: Some(SMALL_MODEL.into()),
        fast_frames: 4,
        // A short text scan: these tests are about the decision, not coverage.
        scan_frames: 8,
        ..ReasonConfig::default()
    }
}

#[tokio::test]
async fn a_confident_fast_answer_stands_and_a_forced_low_confidence_takes_the_slow_path() {
    let s = setup("answer oracle(options, evidence: subtitles(video))\n");

    // θ = 0: any fast answer is confident enough; the planner is never asked.
    let fast = reason(&s.planner, &question(), &s.executor, &s.inputs, &config(Mode::Auto, 0.0)).await;
    assert_eq!(fast.path, Some(AnswerPath::Fast), "{}", fast.reason);
    assert!(fast.search.is_none() && s.backend.calls() == 0);
    let f = fast.fast.as_ref().expect("the fast path ran");
    let program = &f.program;
    assert!(program.contains("subtitles(video)") && program.contains("read_text(scan)") && program.contains("choose("), "{program}");
    assert!(f.answer.is_some() && f.confidence > 0.0 && f.confidence < 1.0, "{f:?}");
    assert_eq!(fast.answer, f.answer);
    assert!(fast.fast_llm_calls >= 1, "the fast choose is a language-model request");

    // θ = 1: the fast confidence is below it, so the slow path runs, and the
    // oracle's certain answer beats the fast one.
    let slow = reason(&s.planner, &question(), &s.executor, &s.inputs, &config(Mode::Auto, 1.0)).await;
    assert_eq!(slow.path, Some(AnswerPath::Slow), "{}", slow.reason);
    assert!(slow.reason.contains("< θ"), "{}", slow.reason);
    assert_eq!(slow.answer.as_deref(), Some("Statistics"));
    assert_eq!(slow.confidence, 1.0);
    assert!(s.backend.calls() >= 1);
    // The fast program's steps were cached by the first call: no recomputation.
    let fast_again = slow.fast.as_ref().expect("fast ran");
    assert_eq!(fast_again.details["executions"], 0, "{:?}", fast_again.details);
    assert_eq!(fast_again.answer, f.answer);
}

#[tokio::test]
async fn a_failing_slow_path_falls_back_to_the_fast_answer() {
    // An execution error in the planned program.
    let s = setup("answer oracle(options, evidence: boom(video))\n");
    let r = reason(&s.planner, &question(), &s.executor, &s.inputs, &config(Mode::Auto, 1.0)).await;
    assert_eq!(r.path, Some(AnswerPath::Fallback), "{}", r.reason);
    assert!(r.slow.is_none());
    let why = r.slow_error.as_deref().expect("the slow failure is kept");
    assert!(why.contains("boom: planted failure"), "{why}");
    assert!(r.reason.contains("failed") && r.reason.contains("boom"), "{}", r.reason);
    assert_eq!(r.answer, r.fast.as_ref().and_then(|f| f.answer.clone()));

    // No valid program at all (the planner writes garbage, repairs too).
    let s = setup("Sure! Here is the answer: entrepreneurship.\n");
    let r = reason(&s.planner, &question(), &s.executor, &s.inputs, &config(Mode::Auto, 1.0)).await;
    assert_eq!(r.path, Some(AnswerPath::Fallback), "{}", r.reason);
    assert!(r.answer.is_some());
    assert_eq!(s.backend.calls(), 2, "a first attempt and one repair");

    // --mode slow has no fallback: no answer, and the reason says why.
    let r = reason(&s.planner, &question(), &s.executor, &s.inputs, &config(Mode::Slow, 1.0)).await;
    assert_eq!(r.path, None);
    assert!(r.fast.is_none() && r.answer.is_none());
    assert!(r.reason.contains("slow path gave no answer"), "{}", r.reason);
}

#[tokio::test]
async fn parameter_search_keeps_the_more_confident_variant() {
    let s = setup("answer peaked(options, k: 2)\n");
    let options = true;
    let (base, _) = run_program(s.planner.registry(), &s.executor, &s.inputs, "answer peaked(options, k: 2)\n".into(), 0.0, options).await;
    assert_eq!(base.confidence, 2.0 / 16.0);
    let p = param_search(s.planner.registry(), &s.executor, &s.inputs, base, options, 6).await;
    let changes: Vec<&str> = p.trials.iter().map(|t| t.change.as_str()).collect();
    assert_eq!(changes, vec!["base", "peaked.k: 2 -> 1", "peaked.k: 2 -> 4"]);
    assert_eq!(p.kept, 2, "k = 4 is the most confident");
    assert_eq!(p.trials[2].rollout.confidence, 4.0 / 16.0);
    assert!(p.trials[2].rollout.program.contains("k: 4"));

    // Through reason(): the slow path's answer is the kept variant's.
    let r = reason(&s.planner, &question(), &s.executor, &s.inputs, &config(Mode::Slow, 1.0)).await;
    assert_eq!(r.confidence, 4.0 / 16.0);
    assert!(r.program.as_deref().is_some_and(|p| p.contains("k: 4")), "{:?}", r.program);

    // On real evidence: the kept trial is the most confident of all.
    let src = "cues = retrieve_subtitles(subtitles(video), question, k: 2)\nanswer choose_by_text(question, options, evidence: cues)\n";
    let (base, _) = run_program(s.planner.registry(), &s.executor, &s.inputs, src.into(), 0.0, options).await;
    assert!(base.answer.is_some(), "{base:?}");
    let p = param_search(s.planner.registry(), &s.executor, &s.inputs, base, options, 4).await;
    assert!(p.trials.len() >= 3, "{:?}", p.trials.iter().map(|t| &t.change).collect::<Vec<_>>());
    let best = p.trials.iter().map(|t| t.rollout.confidence).fold(0.0, f64::max);
    assert_eq!(p.trials[p.kept].rollout.confidence, best);
    // Variants share the unchanged `subtitles(video)` step through the cache.
    assert!(p.trials[1..].iter().all(|t| t.rollout.details["cached_steps"].as_u64().unwrap_or(0) >= 1), "{:?}", p.trials);
}
