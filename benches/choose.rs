//! `choose` latency on the default language model (Qwen2.5-Coder-0.5B, Q4_K_M)
//! with 5 options and a ~1,000-token evidence context (the TED subtitles,
//! repeated with shifted times), and the prefill rate alone.
//!
//! `VPROG_MODELS=/work/models cargo bench --bench choose`

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

/// The allocator the `vprog` binary uses (see src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use vprog_modules::llm::choose::{choose_with, Scoring};
use vprog_modules::llm::{load_llm, DEFAULT_MODEL};
use vprog_modules::subtitles::parse_subtitle_file;
use vprog_modules::ModelStore;
use vprog_runtime::value::{Cue, TimedText};
use vprog_runtime::{StepContext, Value};

fn evidence() -> Value {
    let srt = Path::new(env!("CARGO_MANIFEST_DIR")).join("media").join("ted").join("test.srt");
    let talk = parse_subtitle_file(&srt).unwrap_or_else(|e| panic!("{}: {e} (run scripts/fetch-media.sh)", srt.display()));
    // The 62 s talk is ~530 tokens rendered: twice, the second copy 62 s later.
    let mut cues: Vec<Cue> = talk.cues.clone();
    cues.extend(talk.cues.iter().map(|c| Cue { start: c.start + 62.0, end: c.end + 62.0, ..c.clone() }));
    Value::TimedText(Arc::new(TimedText { cues }))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let store = ModelStore::from_env();
    let ctx = StepContext::standalone("bench");
    let llm = rt.block_on(load_llm(&store, DEFAULT_MODEL, &ctx)).unwrap_or_else(|e| panic!("{e}"));
    let evidence = evidence();
    let options: Vec<String> = ["entrepreneurship", "cooking", "physics", "music", "law"].iter().map(|s| s.to_string()).collect();
    let question = "What does the speaker teach?";

    // One run to report the context size and the prefill rate.
    let out =
        choose_with(&llm, question, &options, &evidence, 1000, Default::default(), Scoring::DEFAULT).unwrap_or_else(|e| panic!("{e}"));
    let mut cache = vprog_modules::llm::KvCache::default();
    let ids = llm.tokenizer.encode(&"the quick brown fox jumps over the lazy dog. ".repeat(100)).unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    llm.model.forward_last(&ids, &mut cache).unwrap_or_else(|e| panic!("{e}"));
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "choose: picked {:?} (confidence {:.2}); context {} tokens ({}), prompt {} tokens; prefill {} tokens in {secs:.2} s = {:.0} tokens/s",
        out.choice.option,
        out.choice.confidence,
        out.report.tokens,
        out.report.granularity,
        out.prompt_tokens,
        ids.len(),
        ids.len() as f64 / secs
    );

    let mut g = c.benchmark_group("choose");
    g.sample_size(10);
    // Cold: every call prefills the whole prompt (a new question makes the
    // cached prompt useless past the evidence, so each iteration asks one
    // the cache has not seen and empties the prefix cache first).
    let mut n = 0u64;
    g.bench_function("qwen0.5b_5_options_1000_token_context", |b| {
        b.iter(|| {
            n += 1;
            llm.prefixes.clear();
            choose_with(&llm, &format!("{question} ({n})"), &options, &evidence, 1000, Default::default(), Scoring::DEFAULT)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    // Warm: the same evidence was read before (another question on the same
    // clip, a parameter-search variant): only the question and options run.
    g.bench_function("qwen0.5b_5_options_1000_token_context_evidence_seen", |b| {
        b.iter(|| {
            n += 1;
            let out = choose_with(&llm, &format!("{question} ({n})"), &options, &evidence, 1000, Default::default(), Scoring::DEFAULT)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(out.reused_tokens > 800, "reused {} tokens", out.reused_tokens);
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
