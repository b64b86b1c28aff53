//! `retrieve_subtitles` and the MiniLM embedder on the real TED talk
//! (`media/ted/test.mp4` with its `test.srt` sidecar): embeddings against
//! sentence-transformers' (golden file), hybrid retrieval of the cue that
//! defines luck, a paraphrase that only the dense scores find, `k` and
//! ordering, the embedding cache (memory, disk, a damaged file), timed-text
//! and text sources, and the errors.
//!
//! Needs the model: `vprog models fetch all-minilm-l6-v2` (found through
//! `VPROG_MODELS`); media from `VPROG_MEDIA_DIR` or `<workspace>/media`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vprog_models::catalog::MINILM;
use vprog_modules::retrieval::bm25::Bm25;
use vprog_modules::retrieval::embed::{dot, Embedder};
use vprog_modules::retrieval::RetrieveSubtitles;
use vprog_modules::subtitles::parse_subtitle_file;
use vprog_modules::video::open_video;
use vprog_modules::ModelStore;
use vprog_runtime::value::{Cue, TimedText};
use vprog_runtime::{Args, Module, ModuleError, StepContext, Value};

const DEFINITION: &str = "Luck is defined as success or failure apparently caused by chance.";
const TEACHER: &str = "You see, I teach entrepreneurship,";
const PARAPHRASE: &str = "someone who explains to students how to start a business";

fn media(rel: &str) -> PathBuf {
    let dir = std::env::var_os("VPROG_MEDIA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("media"));
    let p = dir.join(rel);
    assert!(p.is_file(), "{} is missing: run `bash scripts/fetch-media.sh`", p.display());
    p
}

fn store() -> Arc<ModelStore> {
    Arc::new(ModelStore::from_env())
}

fn embedder() -> Arc<Embedder> {
    Embedder::load(&store(), MINILM).unwrap_or_else(|e| panic!("loading MiniLM: {e} (install it: `vprog models fetch {MINILM}`)"))
}

fn ted_video() -> Value {
    let v = open_video(&media("ted/test.mp4"), None).expect("the TED video opens");
    assert!(v.subtitles.is_some(), "test.srt should be found as the sidecar of test.mp4");
    Value::Video(v)
}

fn ted_cues() -> TimedText {
    parse_subtitle_file(&media("ted/test.srt")).expect("test.srt parses")
}

/// A module whose disk cache lives in `dir`.
fn module(dir: &Path) -> RetrieveSubtitles {
    RetrieveSubtitles::with_cache_dir(store(), Some(dir.to_path_buf()))
}

async fn retrieve(m: &RetrieveSubtitles, named: Vec<(&str, Value)>) -> (Result<Arc<TimedText>, ModuleError>, StepContext) {
    let ctx = StepContext::standalone("test");
    let args = Args::with_defaults(m.signature(), named, vec![]);
    let out = m.call(args, &ctx).await.map(|v| match v {
        Value::TimedText(t) => t,
        other => panic!("expected TimedText, got {}", other.summary()),
    });
    (out, ctx)
}

async fn top(m: &RetrieveSubtitles, source: Value, query: &str, k: i64) -> (Arc<TimedText>, StepContext) {
    let (out, ctx) = retrieve(m, vec![("source", source), ("query", Value::Text(query.into())), ("k", Value::Int(k))]).await;
    (out.unwrap_or_else(|e| panic!("retrieve_subtitles({query:?}) failed: {e}")), ctx)
}

fn texts(t: &TimedText) -> Vec<&str> {
    t.cues.iter().map(|c| c.text.as_str()).collect()
}

fn scores(t: &TimedText) -> Vec<f64> {
    t.cues.iter().map(|c| c.score.expect("every retrieved cue has a score")).collect()
}

fn hit_of(ctx: &StepContext) -> String {
    let note = ctx.notes.get("embedding_cache").expect("an embedding_cache note");
    note["hit"].as_str().unwrap_or_else(|| panic!("note without hit: {note}")).to_string()
}

#[test]
fn embeddings_match_sentence_transformers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/retrieval/golden.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("golden.json is readable")).expect("json");
    let items = golden["items"].as_array().expect("items");
    assert!(items.len() >= 10);
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().expect("text")).collect();
    let want: Vec<Vec<f32>> = items
        .iter()
        .map(|i| i["embedding"].as_array().expect("embedding").iter().map(|x| x.as_f64().expect("f64") as f32).collect())
        .collect();
    let e = embedder();
    assert_eq!(e.dim(), 384);
    assert!(e.token_ids(texts.last().expect("a long text")).expect("tokenizes").len() == 256, "inputs are truncated at 256 word pieces");
    // All at once (sorted into length batches) and one by one must agree with the reference.
    let got = e.embed(&texts).expect("embeds");
    for (i, (text, (g, w))) in texts.iter().zip(got.iter().zip(&want)).enumerate() {
        let cos = dot(g, w) / dot(w, w).sqrt();
        let err = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(cos >= 0.9999 && err < 1e-4, "item {i} {text:?}: cosine {cos}, max abs error {err}");
        assert!((dot(g, g) - 1.0).abs() < 1e-5, "unit length");
    }
    let alone = e.embed(&[texts[0]]).expect("embeds");
    let err = alone[0].iter().zip(&got[0]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-5, "padding in a batch must not change an embedding (max abs error {err})");
    assert!(e.embed(&[]).expect("nothing to embed").is_empty());
}

#[tokio::test]
async fn what_is_luck_finds_the_definition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = module(dir.path());
    let (out, ctx) = top(&m, ted_video(), "what is luck", 3).await;
    assert_eq!(out.cues.len(), 3, "k = 3: {:?}", texts(&out));
    assert!(texts(&out).contains(&DEFINITION), "top 3: {:?}", texts(&out));
    let s = scores(&out);
    assert!(s.windows(2).all(|w| w[0] >= w[1]), "descending scores: {s:?}");
    assert!(s.iter().all(|x| (0.0..=1.0).contains(x)), "{s:?}");
    assert!(out.cues.iter().all(|c| c.source == "subtitles:srt"));
    let note = ctx.notes.get("retrieval").expect("a retrieval note");
    assert_eq!(note["top"].as_array().map(Vec::len), Some(3));
    assert!(ctx.notes.get("embedding_cache").is_some());

    // k larger than the cue list gives every cue; k = 1 gives the best one.
    let all = ted_cues().cues.len();
    let (every, _) = top(&m, ted_video(), "what is luck", 1000).await;
    assert_eq!(every.cues.len(), all);
    let (one, _) = top(&m, ted_video(), "what is luck", 1).await;
    assert_eq!(one.cues.len(), 1);
    assert_eq!(one.cues[0], every.cues[0]);
}

#[tokio::test]
async fn a_paraphrase_is_found_by_dense_scores_only() {
    let cues = ted_cues();
    let t = texts(&cues);
    let target = t.iter().position(|c| *c == TEACHER).expect("the cue about teaching");
    // BM25 alone cannot see it: the query shares no word with any cue.
    let bm25 = Bm25::new(&t).scores(PARAPHRASE);
    assert_eq!(bm25[target], 0.0);
    assert!(bm25.iter().all(|s| *s == 0.0), "{bm25:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let m = module(dir.path());
    let (hybrid, _) = top(&m, ted_video(), PARAPHRASE, 3).await;
    assert_eq!(hybrid.cues[0].text, TEACHER, "hybrid top 3: {:?}", texts(&hybrid));

    let (out, _) = retrieve(
        &m,
        vec![("source", ted_video()), ("query", Value::Text(PARAPHRASE.into())), ("k", Value::Int(3)), ("alpha", Value::Number(0.0))],
    )
    .await;
    let lexical = out.expect("BM25-only retrieval runs");
    assert!(!texts(&lexical).contains(&TEACHER), "BM25 only: {:?}", texts(&lexical));
    assert!(scores(&lexical).iter().all(|s| *s == 0.0));
}

#[tokio::test]
async fn second_query_hits_the_embedding_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = module(dir.path());
    let (_, first) = top(&m, ted_video(), "what is luck", 3).await;
    assert_eq!(hit_of(&first), "miss");
    let (_, second) = top(&m, ted_video(), "lightning strike", 3).await;
    assert_eq!(hit_of(&second), "memory");

    // A new process (a new module, empty memory) reads the disk cache.
    let (out, third) = top(&module(dir.path()), ted_video(), "lightning strike", 3).await;
    assert_eq!(hit_of(&third), "disk");
    assert!(out.cues[0].text.contains("lightning strike"), "{:?}", texts(&out));

    // A damaged file is ignored, and rewritten.
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "emb"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mut bytes = std::fs::read(&files[0]).expect("cache file");
    bytes[40] ^= 0xff;
    std::fs::write(&files[0], &bytes).expect("damage");
    let (again, fourth) = top(&module(dir.path()), ted_video(), "lightning strike", 3).await;
    assert_eq!(hit_of(&fourth), "miss");
    let note = fourth.notes.get("embedding_cache").expect("note");
    assert!(note["corrupt"].as_str().is_some_and(|r| r.contains("checksum")), "{note}");
    assert_eq!(texts(&again), texts(&out));
    let (_, fifth) = top(&module(dir.path()), ted_video(), "lightning strike", 3).await;
    assert_eq!(hit_of(&fifth), "disk");
}

#[tokio::test]
async fn timed_text_and_text_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = module(dir.path());
    // A transcript-like timed text (what `transcribe` gives).
    let cue = |start: f64, text: &str| Cue { start, end: start + 2.0, text: text.into(), score: None, bbox: None, source: "asr".into() };
    let transcript = TimedText {
        cues: vec![
            cue(0.0, "Welcome to the kitchen."),
            cue(2.0, "First we chop the onions finely."),
            cue(4.0, "Then the pasta boils for ten minutes."),
            cue(6.0, "Thanks for watching, see you next week."),
        ],
    };
    let (out, _) = top(&m, Value::TimedText(Arc::new(transcript)), "cutting vegetables", 2).await;
    assert_eq!(out.cues[0].text, "First we chop the onions finely.", "{:?}", texts(&out));
    assert_eq!((out.cues[0].start, out.cues[0].source.as_str()), (2.0, "asr"));

    let text = "Luck is defined as success or failure apparently caused by chance. Most new ventures fail! \
                Entrepreneurs need all the luck they can get.\nThe weather was sunny that day.";
    let (out, _) = top(&m, Value::Text(text.into()), "what is the meaning of luck", 4).await;
    assert_eq!(out.cues.len(), 4);
    assert_eq!(out.cues[0].text, DEFINITION, "{:?}", texts(&out));
    assert!(out.cues.iter().all(|c| c.source == "text"));
    assert!(texts(&out).contains(&"The weather was sunny that day."), "every sentence is a candidate");

    // Time order: the same top k, by start time (sentence order for text).
    let (timed, _) = retrieve(
        &m,
        vec![
            ("source", Value::Text(text.into())),
            ("query", Value::Text("what is the meaning of luck".into())),
            ("k", Value::Int(2)),
            ("order", Value::Text("time".into())),
        ],
    )
    .await;
    let timed = timed.expect("time order");
    let mut want: Vec<&str> = texts(&out)[..2].to_vec();
    want.sort_by_key(|s| text.find(s));
    assert_eq!(texts(&timed), want);
}

#[tokio::test]
async fn empty_inputs_and_bad_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = module(dir.path());
    let (out, _) = retrieve(&m, vec![("source", Value::Text("some text".into())), ("query", Value::Text("  ".into()))]).await;
    assert!(matches!(out, Err(ModuleError::InvalidArgument { ref param, .. }) if param == "query"), "{out:?}");

    let (out, ctx) = top(&m, Value::TimedText(Arc::new(TimedText::default())), "luck", 5).await;
    assert!(out.cues.is_empty());
    assert!(ctx.notes.get("no_cues").is_some());

    // A video without subtitles: no cues, noted.
    let v = open_video(&media("vtest.avi"), None).expect("vtest.avi opens");
    let (out, ctx) = top(&m, Value::Video(v), "people walking", 5).await;
    assert!(out.cues.is_empty());
    assert!(ctx.notes.get("no_cues").and_then(|n| n.as_str().map(|s| s.contains("subtitles"))).unwrap_or(false));

    for (name, value) in [("k", Value::Int(0)), ("alpha", Value::Number(1.5)), ("order", Value::Text("random".into()))] {
        let (out, _) = retrieve(&m, vec![("source", Value::Text("a. b.".into())), ("query", Value::Text("a".into())), (name, value)]).await;
        assert!(matches!(out, Err(ModuleError::InvalidArgument { ref param, .. }) if param == name), "{name}: {out:?}");
    }
}

#[tokio::test]
async fn missing_model_names_the_fetch_command() {
    let empty = tempfile::tempdir().expect("tempdir");
    let registry = vprog_modules::registry_with(Arc::new(ModelStore::at(empty.path())));
    let m = registry.get("retrieve_subtitles").expect("retrieve_subtitles is registered");
    let args = Args::with_defaults(m.signature(), [("source", ted_video()), ("query", Value::Text("what is luck".into()))], vec![]);
    let err = m.call(args, &StepContext::standalone("test")).await.expect_err("no model installed");
    assert!(matches!(err, ModuleError::MissingModel { .. }), "{err:?}");
    assert!(err.to_string().contains("vprog models fetch all-minilm-l6-v2"), "{err}");

    // BM25 only needs no model.
    let args = Args::with_defaults(
        m.signature(),
        [("source", ted_video()), ("query", Value::Text("what is luck".into())), ("alpha", Value::Number(0.0))],
        vec![],
    );
    let out = m.call(args, &StepContext::standalone("test")).await.expect("BM25 without a model");
    let Value::TimedText(t) = out else { panic!("TimedText") };
    assert!(t.cues.iter().any(|c| c.text == "So what is luck?"), "{:?}", texts(&t));
}
