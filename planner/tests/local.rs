//! The planner on the real local models: constrained decoding keeps what a
//! small model writes inside the language and the registry, a seed makes
//! sampling reproducible, and the repair loop fixes planted mistakes with
//! the default model.
//!
//! Models come from `$VPROG_MODELS` (`vprog models fetch ID`).

use std::sync::Arc;

use vprog_models::catalog::{QWEN_CODER_05B, SMOLLM2_135M};
use vprog_modules::ModelStore;
use vprog_planner::backend::{Finish, LlmBackend};
use vprog_planner::local::LocalBackend;
use vprog_planner::prompt::Question;
use vprog_planner::scripted::PlantedBackend;
use vprog_planner::{Planner, PlannerConfig};

/// Codes the constraint rules out: syntax, names and argument names.
const RULED_OUT: [&str; 5] =
    ["vprog::syntax", "vprog::unknown_module", "vprog::unknown_argument", "vprog::undefined", "vprog::duplicate_argument"];

async fn backend(id: &str) -> Arc<dyn LlmBackend> {
    let store = ModelStore::from_env();
    match LocalBackend::load(&store, id).await {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("{e} (run `vprog models fetch {id}` or set VPROG_MODELS)"),
    }
}

fn planner(backend: Arc<dyn LlmBackend>, config: PlannerConfig) -> Planner {
    Planner::new(backend, Arc::new(vprog_modules::registry()), config)
}

/// Real NExT-QA validation questions (`../shared/data/nextqa/val.csv`, rows 1-3).
fn nextqa() -> Vec<Question> {
    vec![
        Question::new("how do the two man play the instrument").with_options(
            ["roll the handle", "tap their feet", "strum the string", "hit with sticks", "pat with hand"].map(String::from).to_vec(),
        ),
        Question::new("why did the boy pick up one present from the group of them and move to the sofa").with_options(
            ["share with the girl", "approach lady sitting there", "unwrap it", "playing with toy train", "gesture something"]
                .map(String::from)
                .to_vec(),
        ),
        Question::new("How many people walk through the scene?"),
    ]
}

#[tokio::test]
async fn constrained_programs_never_break_the_language_or_name_unknown_modules() {
    let p = planner(
        backend(SMOLLM2_135M).await,
        PlannerConfig { repair_rounds: 0, max_tokens: 96, revision_rounds: 0, ..PlannerConfig::default() },
    );
    for q in nextqa() {
        let planned = p.plan(&q).await.expect("the local model answers");
        let a = &planned.attempts[0];
        assert!(a.constrained);
        // Whatever the model wrote is still a viable prefix of a program ...
        let constraint = p.constraint(&q).expect("the local backend constrains");
        assert!(constraint.viable(&a.reply), "{:?}", a.reply);
        // ... and a reply the model ended itself breaks none of the rules.
        if a.finish == Finish::Stop {
            let bad: Vec<&str> = a.findings.iter().map(|f| f.code.as_str()).filter(|c| RULED_OUT.contains(c)).collect();
            assert!(bad.is_empty(), "{:?} in\n{}", a.findings, a.source);
        }
        assert!(!a.source.contains('#'), "comments are not generated: {}", a.source);
    }
}

#[tokio::test]
async fn a_seed_makes_sampling_reproducible() {
    let b = backend(SMOLLM2_135M).await;
    let p = planner(b, PlannerConfig { repair_rounds: 0, max_tokens: 64, revision_rounds: 0, ..PlannerConfig::default() });
    let q = &nextqa()[1];
    let run = |seed| {
        let p = &p;
        async move { p.plan_seeded(q, seed, 1.0).await.expect("answers").attempts[0].reply.clone() }
    };
    let first = run(5).await;
    assert_eq!(first, run(5).await, "same seed, same program");
    let mut others = Vec::new();
    for seed in 6..10 {
        others.push(run(seed).await);
    }
    assert!(others.iter().any(|o| *o != first), "other seeds should sample something else: {first:?} {others:?}");
}

#[tokio::test]
async fn the_repair_loop_fixes_planted_mistakes_with_the_default_model() {
    let inner = backend(QWEN_CODER_05B).await;
    let q = Question::new("What does the speaker say luck is?")
        .with_options(["hard work", "preparation meeting opportunity", "a gift", "chance", "nothing"].map(String::from).to_vec());
    let planted = [
        // A module that does not exist.
        "cues = retrieve_subtitle(video, question, k: 4)\nanswer choose(question, options, evidence: cues)",
        // A value of the wrong type, and a parameter that does not exist.
        "frames = sample(video, fps: \"two\")\ntext = read_text(frames, language: \"eng\")\nanswer choose(question, options, evidence: text)",
        // A question with options answered by a count.
        "speech = transcribe(video)\nanswer count(speech)",
    ];
    for bad in planted {
        let backend = Arc::new(PlantedBackend::new(vec![bad.to_string()], inner.clone()));
        let p = planner(backend, PlannerConfig { repair_rounds: 2, max_tokens: 128, revision_rounds: 0, ..PlannerConfig::default() });
        let planned = p.plan(&q).await.expect("the local model answers");
        assert!(!planned.attempts[0].valid, "the planted program is invalid");
        let calls = planned.llm_calls();
        let fixed = planned.program.unwrap_or_else(|| {
            let last = planned.attempts.last().expect("attempts");
            panic!("not repaired after {} rounds; last:\n{}\n{:?}", planned.attempts.len() - 1, last.source, last.findings)
        });
        assert!(fixed.is_valid());
        assert!(calls <= 3);
    }
}
