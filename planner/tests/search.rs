//! MCTS with the runtime in the loop, on the real TED talk and its subtitles:
//! steps come from a scripted proposer (so the tree is known), rollouts are
//! checked and executed, and the shared step cache means steps that rollouts
//! have in common run once.
//!
//! Media from `VPROG_MEDIA_DIR` or `<workspace>/media` (`bash scripts/fetch-media.sh`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use vprog_planner::backend::Request;
use vprog_planner::mcts::SearchConfig;
use vprog_planner::prompt::Question;
use vprog_planner::scripted::ScriptedBackend;
use vprog_planner::search::{run_samples, run_search, Budget, SearchOutcome};
use vprog_planner::{Planner, PlannerConfig};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, Executor, RunInputs};

/// Proposes steps from a fixed menu per depth (picked by the request's seed)
/// and completes any prefix with a lexical choice over its last binding.
fn proposer(req: &Request, _n: usize) -> Result<String, vprog_planner::LlmError> {
    let lines: Vec<&str> = req.prefix.lines().collect();
    let last = lines.iter().rev().find_map(|l| l.split_once(" = ").map(|(v, _)| v.trim())).unwrap_or("subs");
    let answer = format!("answer choose_by_text(question, options, evidence: {last})");
    let menu: Vec<String> = match lines.len() {
        0 => vec!["subs = subtitles(video)".into(), "opening = subtitles(trim(video, 00:00, 01:00))".into()],
        1 => vec![format!("luck = [c for c in {last} if contains(c, \"luck\")]"), answer.clone(), format!("late = after({last}, 00:30)")],
        _ => vec![answer.clone()],
    };
    let proposing = req.stop.iter().any(|s| s == "\n");
    Ok(if proposing {
        format!("{}\nmore text the stop string cuts", menu[(req.seed % menu.len() as u64) as usize])
    } else if lines.is_empty() {
        format!("subs = subtitles(video)\n{}", answer.replace(last, "subs"))
    } else {
        answer
    })
}

fn question() -> Question {
    Question::new("What does the speaker say luck is?").with_options(vec![
        "hard work".into(),
        "preparation meeting opportunity".into(),
        "when preparation meets opportunity and you notice it".into(),
        "a gift".into(),
    ])
}

async fn search_with(cache: Cache, budget: Budget) -> SearchOutcome {
    let registry = Arc::new(vprog_modules::registry());
    let planner =
        Planner::new(Arc::new(ScriptedBackend::new("menu", proposer)), registry, PlannerConfig { seed: 11, ..PlannerConfig::default() });
    let video = vprog_modules::video::open_video(&common::ted(), None).expect("the TED talk opens");
    let inputs = RunInputs { video: Some(video), question: Some(question().text), options: Some(question().options) };
    let executor = Executor::new(Arc::new(cache), ExecConfig::default());
    let config = SearchConfig { iterations: 10, ..SearchConfig::default() };
    run_search(&planner, &question(), executor, inputs, budget, config).await
}

#[tokio::test]
async fn rollouts_share_steps_through_the_cache() {
    let shared = search_with(Cache::new(None, 1 << 30), Budget::default()).await;
    let alone = search_with(Cache::disabled(), Budget::default()).await;

    // Same seeds, same tree, same answer: only the work differs.
    let programs = |o: &SearchOutcome| o.tree.rollouts.iter().map(|r| r.program.clone()).collect::<Vec<_>>();
    assert_eq!(programs(&shared), programs(&alone));
    assert_eq!(shared.answer, alone.answer);
    assert!(shared.tree.rollouts.len() >= 6, "{} rollouts", shared.tree.rollouts.len());
    assert!(shared.tree.rollouts.iter().all(|r| r.answer.is_some()), "{:?}", shared.tree.rollouts);
    let answer = shared.answer.clone().expect("an answer");
    assert!(question().options.contains(&answer), "{answer}");
    eprintln!(
        "module executions over {} rollouts: {} with the shared cache ({} hits, {} cheap calls), {} without ({} cheap calls)",
        shared.tree.rollouts.len(),
        shared.spent.executions,
        shared.spent.cached_steps,
        shared.spent.cheap_calls,
        alone.spent.executions,
        alone.spent.cheap_calls
    );
    assert!(shared.spent.cached_steps > 0);
    assert_eq!(alone.spent.cached_steps, 0);
    assert!(shared.spent.executions < alone.spent.executions, "{} vs {}", shared.spent.executions, alone.spent.executions);
    // A program run before costs nothing the second time.
    for (i, r) in shared.tree.rollouts.iter().enumerate() {
        if shared.tree.rollouts[..i].iter().any(|earlier| earlier.program == r.program) {
            assert_eq!(r.details["executions"], 0, "rerun of {}", r.program);
            assert!(r.details["cached_steps"].as_u64().unwrap_or(0) > 0);
        }
    }

    // The tree: distinct children, rewards in [0, 1], a vote for the answer.
    for n in &shared.tree.nodes {
        let steps: Vec<&str> = n.children.iter().map(|&c| shared.tree.nodes[c].step.as_str()).collect();
        let mut dedup = steps.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(steps.len(), dedup.len(), "siblings repeat a step: {steps:?}");
    }
    assert!(shared.tree.rollouts.iter().all(|r| (0.0..=1.0).contains(&r.reward)));
    assert_eq!(shared.votes[0].answer, answer);
    let weight: f64 = shared.tree.rollouts.iter().filter(|r| r.answer.as_deref() == Some(answer.as_str())).map(|r| r.confidence).sum();
    assert!((shared.votes[0].weight - weight).abs() < 1e-9);
}

#[tokio::test]
async fn budgets_bound_the_search() {
    let tight = Budget { llm_calls: 3, executions: 1000, wall: Duration::from_secs(600) };
    let o = search_with(Cache::new(None, 1 << 30), tight).await;
    assert!(o.spent.llm_calls <= 3, "{} calls", o.spent.llm_calls);
    assert_eq!(o.tree.stopped, "budget");

    let tight = Budget { llm_calls: 100, executions: 1, wall: Duration::from_secs(600) };
    let o = search_with(Cache::new(None, 1 << 30), tight).await;
    assert_eq!(o.spent.runs, 1, "no program starts once the execution budget is spent");
}

#[tokio::test]
async fn sampling_baseline_votes_over_independent_programs() {
    let registry = Arc::new(vprog_modules::registry());
    let replies = vec![
        "subs = subtitles(video)\nanswer choose_by_text(question, options, evidence: subs)".to_string(),
        "answer count(subtitles(video))".to_string(),
        "answer choose_by_text(question, options, evidence: subtitles(video))".to_string(),
    ];
    let planner =
        Planner::new(Arc::new(ScriptedBackend::replay(replies)), registry, PlannerConfig { repair_rounds: 0, ..PlannerConfig::default() });
    let video = vprog_modules::video::open_video(&common::ted(), None).expect("the TED talk opens");
    let inputs = RunInputs { video: Some(video), question: Some(question().text), options: Some(question().options) };
    let executor = Executor::new(Arc::new(Cache::new(None, 1 << 30)), ExecConfig::default());
    let config = SearchConfig { iterations: 3, ..SearchConfig::default() };
    let o = run_samples(&planner, &question(), executor, inputs, Budget::default(), config, 0.7).await;
    assert_eq!(o.tree.rollouts.len(), 3);
    // The second is not a Choice: rejected by the planner, never run.
    assert!(o.tree.rollouts[1].answer.is_none());
    assert_eq!(o.spent.invalid, 1);
    assert_eq!(o.votes.len(), 1);
    assert_eq!(o.votes[0].rollouts, 2);
    // The third program's subtitles step was computed by the first.
    assert!(o.spent.cached_steps >= 1);
}
