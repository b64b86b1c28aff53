//! The planner: latency of planning one NExT-QA question with the default
//! local model (constrained decoding, repairs included), and what the shared
//! step cache saves during MCTS against re-executing every rollout.
//!
//! The MCTS part runs on the TED talk with a fixed step menu standing in for
//! the language model (so both runs explore the same tree) and the real
//! modules: subtitles, MiniLM retrieval, the lexical chooser.
//!
//! The `plan_cold` group times what a user waits for: a new `vprog plan`
//! process on one question (model load, the system prompt's keys and values
//! read back from the disk cache a first run stored, prefill of the
//! question, decoding, checking, repairs). The very first run, which
//! prefills the whole system prompt, is timed once and printed.
//!
//! `VPROG_MODELS=/work/models cargo bench --bench planner`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use vprog_planner::backend::Request;
use vprog_planner::local::LocalBackend;
use vprog_planner::mcts::SearchConfig;
use vprog_planner::prompt::Question;
use vprog_planner::scripted::ScriptedBackend;
use vprog_planner::search::{run_search, Budget, SearchOutcome};
use vprog_planner::{Planner, PlannerConfig};
use vprog_runtime::cache::Cache;
use vprog_runtime::exec::{ExecConfig, Executor, RunInputs};

/// The allocator the `vprog` binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// NExT-QA validation rows 1-3 (`../shared/data/nextqa/val.csv`).
fn nextqa() -> Vec<Question> {
    let rows: [(&str, [&str; 5]); 3] = [
        (
            "how do the two man play the instrument",
            ["roll the handle", "tap their feet", "strum the string", "hit with sticks", "pat with hand"],
        ),
        (
            "why did the boy pick up one present from the group of them and move to the sofa",
            ["share with the girl", "approach lady sitting there", "unwrap it", "playing with toy train", "gesture something"],
        ),
        (
            "how does the man cycling try to sell the watch to the man in the trishaw",
            ["give him catalogue", "show him a video", "show him the watch", "dismount his bicycle", "give him the watch strap"],
        ),
    ];
    rows.iter().map(|(q, o)| Question::new(*q).with_options(o.iter().map(|s| s.to_string()).collect())).collect()
}

/// Steps from a fixed menu per depth, picked by the request's seed; any
/// prefix completed by choosing over its last binding.
fn menu(req: &Request, _n: usize) -> Result<String, vprog_planner::LlmError> {
    let lines: Vec<&str> = req.prefix.lines().collect();
    let last = lines.iter().rev().find_map(|l| l.split_once(" = ").map(|(v, _)| v.trim())).unwrap_or("subs");
    let answer = format!("answer choose_by_text(question, options, evidence: {last})");
    let menu: Vec<String> = match lines.len() {
        0 => vec!["subs = subtitles(video)".into(), "speech = subtitles(trim(video, 00:00, 00:45))".into()],
        1 => vec![format!("cues = retrieve_subtitles({last}, question, k: 4)"), format!("late = after({last}, 00:20)"), answer.clone()],
        2 => vec![format!("near = retrieve_subtitles({last}, \"luck\", k: 2)"), answer.clone()],
        _ => vec![answer.clone()],
    };
    Ok(if req.stop.iter().any(|s| s == "\n") {
        menu[(req.seed % menu.len() as u64) as usize].clone()
    } else if lines.is_empty() {
        "subs = subtitles(video)\nanswer choose_by_text(question, options, evidence: subs)".to_string()
    } else {
        answer
    })
}

async fn mcts(cache: Cache) -> SearchOutcome {
    let video_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("media").join("ted").join("test.mp4");
    let video = vprog_modules::video::open_video(&video_path, None).unwrap_or_else(|e| panic!("{e} (run scripts/fetch-media.sh)"));
    let q = Question::new("What does the speaker say luck is?")
        .with_options(["hard work", "preparation meeting opportunity", "a gift", "chance", "nothing"].map(String::from).to_vec());
    let planner = Planner::new(
        Arc::new(ScriptedBackend::new("menu", menu)),
        Arc::new(vprog_modules::registry()),
        PlannerConfig { seed: 3, ..PlannerConfig::default() },
    );
    let inputs = RunInputs { video: Some(video), question: Some(q.text.clone()), options: Some(q.options.clone()) };
    let executor = Executor::new(Arc::new(cache), ExecConfig::default());
    run_search(&planner, &q, executor, inputs, Budget::default(), SearchConfig { iterations: 16, ..SearchConfig::default() }).await
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");

    let shared = rt.block_on(mcts(Cache::new(None, 1 << 30)));
    let alone = rt.block_on(mcts(Cache::disabled()));
    eprintln!(
        "mcts: {} rollouts; module executions {} with the shared cache ({} cache hits) against {} re-executing every rollout: {:.0}% fewer",
        shared.tree.rollouts.len(),
        shared.spent.executions,
        shared.spent.cached_steps,
        alone.spent.executions,
        100.0 * (1.0 - shared.spent.executions as f64 / alone.spent.executions.max(1) as f64)
    );
    let mut g = c.benchmark_group("mcts");
    g.sample_size(10);
    g.bench_function("shared_cache", |b| b.iter(|| rt.block_on(mcts(Cache::new(None, 1 << 30)))));
    g.bench_function("no_cache", |b| b.iter(|| rt.block_on(mcts(Cache::disabled()))));
    g.finish();

    let store = vprog_modules::ModelStore::from_env();
    let backend = rt.block_on(LocalBackend::load(&store, vprog_modules::llm::DEFAULT_MODEL)).unwrap_or_else(|e| panic!("{e}"));
    let planner = Planner::new(Arc::new(backend), Arc::new(vprog_modules::registry()), PlannerConfig::default());
    let questions = nextqa();
    // The first plan prefills the system prompt; later ones reuse it, as in
    // `vprog plan-eval` and `vprog ask`.
    let first = rt.block_on(planner.plan(&questions[0])).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("plan: first question valid: {}, {} LLM calls", first.program.is_some(), first.llm_calls());
    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    let mut i = 0;
    g.bench_function("nextqa_question_qwen", |b| {
        b.iter(|| {
            i += 1;
            rt.block_on(planner.plan(&questions[i % questions.len()])).unwrap_or_else(|e| panic!("{e}"))
        })
    });
    g.finish();
}

/// `vprog plan` on NExT-QA question 1 in a new process, with `cache` as the
/// cache directory; seconds.
fn plan_process(cache: &Path) -> f64 {
    let t0 = std::time::Instant::now();
    let video = Path::new(env!("CARGO_MANIFEST_DIR")).join("media/vtest.avi");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vprog"))
        .arg("plan")
        .arg(&video)
        .args(["where is this video taken?", "--options", "park", "living room", "beach", "restaurant", "classroom"])
        .env("VPROG_CACHE_DIR", cache)
        .output()
        .expect("vprog runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    t0.elapsed().as_secs_f64()
}

fn cold(c: &mut Criterion) {
    let cache = tempfile::tempdir().expect("temp dir");
    eprintln!("plan_cold: first run ever (the system prompt prefilled and stored): {:.1} s", plan_process(cache.path()));
    let mut g = c.benchmark_group("plan_cold");
    g.sample_size(10);
    g.bench_function("new_process_one_question", |b| b.iter(|| plan_process(cache.path())));
    g.finish();
}

criterion_group!(benches, bench, cold);
criterion_main!(benches);
