//! `retrieve_subtitles`: the cues most relevant to a query, by a hybrid of
//! BM25 and MiniLM embeddings.
//!
//! # Scoring
//!
//! For `N` candidate cues and a query:
//!
//! 1. `bm25(c)`: Okapi BM25 of the query's words in the cue ([`super::bm25`],
//!    `k1 = 1.2`, `b = 0.75`, idf over the `N` cues).
//! 2. `cos(c)`: cosine of the all-MiniLM-L6-v2 embeddings of the query and
//!    the cue ([`super::embed`]).
//! 3. Both lists are min-max normalised over the candidates, each to `[0, 1]`:
//!    `bm25'(c) = bm25(c) / max bm25` (BM25's minimum is 0: a cue sharing no
//!    word scores 0; all 0 when no cue shares a word),
//!    `cos'(c) = (cos(c) − min cos) / (max cos − min cos)` (1 for every cue
//!    when all cosines are equal, e.g. a single cue).
//! 4. `score(c) = alpha · cos'(c) + (1 − alpha) · bm25'(c)`, in `[0, 1]`.
//!    `alpha = 1` is dense only, `alpha = 0` lexical only (the model is then
//!    not loaded at all).
//!
//! Min-max fusion was chosen over reciprocal-rank fusion because it keeps how
//! far apart the scores are (a cue that matches much better stays far ahead)
//! and gives scores that mean the same at any `k`; its scores are relative to
//! the candidates, not calibrated probabilities.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use vprog_models::catalog;
use vprog_runtime::value::{Clip, Cue, TimedText};
use vprog_runtime::{Args, Module, ModuleError, Param, ParamType, Returns, Signature, StepContext, Type, Value};

use super::bm25::Bm25;
use super::cache::{self, EmbeddingCache, Hit, Miss};
use super::embed::{dot, Embedder};
use super::relevance::normalise;
use crate::model_store::ModelStore;

/// Default number of cues returned.
pub const DEFAULT_K: i64 = 5;
/// Largest `k`.
pub const MAX_K: i64 = 1000;
/// Default weight of the dense score.
pub const DEFAULT_ALPHA: f64 = 0.5;

/// What `source` of a cue made from a sentence of a Text holds.
pub const TEXT_SOURCE: &str = "text";

/// Module `retrieve_subtitles`.
pub struct RetrieveSubtitles {
    sig: Signature,
    store: Arc<ModelStore>,
    model: &'static str,
    cache: Arc<EmbeddingCache>,
}

impl RetrieveSubtitles {
    /// The module with models from `store` and the default embedding cache
    /// directory ([`cache::default_dir`]).
    pub fn new(store: Arc<ModelStore>) -> RetrieveSubtitles {
        RetrieveSubtitles::with_cache_dir(store, cache::default_dir())
    }

    /// The module with its on-disk embedding cache in `dir` (`None`: memory only).
    pub fn with_cache_dir(store: Arc<ModelStore>, dir: Option<std::path::PathBuf>) -> RetrieveSubtitles {
        let sig = Signature::new(
            "retrieve_subtitles",
            "1.0.0",
            Returns::Is(Type::TimedText),
            "The k cues most relevant to a query (hybrid BM25 + MiniLM sentence-embedding search), each with its score.
Candidates: the subtitles of a video or clip (a sidecar .srt/.vtt/.ass/.ssa file, else the first embedded \
text subtitle stream; only cues overlapping the clip), the cues of a timed text (e.g. a transcript or OCR), \
or the sentences of a text (cut after . ? ! or a line break; their cues have time 0 and source \"text\"). \
Each cue is scored by BM25 of the query's words (lowercased, lightly stemmed, function words dropped; \
k1 1.2, b 0.75) and by the cosine of all-MiniLM-L6-v2 embeddings of query and cue (so paraphrases with \
no shared word are still found). Both are min-max normalised over the candidates to [0, 1] \
(BM25 divided by its maximum; all 0 when no cue shares a word) and mixed: \
score = alpha * dense + (1 - alpha) * bm25, in [0, 1] and relative to the candidates. \
Returns at most k cues with `score` set, highest score first (ties: earlier cue first), or in time order \
with order: \"time\". No candidates gives no cues (noted in the trace), not an error; an empty query \
is an error. Cue embeddings are cached per video (in memory and on disk), so a second query on the \
same subtitles embeds only the query. Needs the model all-minilm-l6-v2 unless alpha is 0.",
        )
        .param(Param::required(
            "source",
            ParamType::OneOf(vec![Type::Clip, Type::TimedText, Type::Text]),
            "Where to search: a video or clip (its subtitles), timed text (its cues) or text (its sentences).",
        ))
        .param(Param::of("query", Type::Text, "What to look for: a question, keywords or a paraphrase."))
        .param(
            Param::of("k", Type::Int, "How many cues to return (at most).")
                .default(Value::Int(DEFAULT_K))
                .range(1.0, MAX_K as f64)
                .searchable(1.0, 20.0),
        )
        .param(
            Param::of("alpha", Type::Number, "Weight of the dense (embedding) score against BM25: 1 dense only, 0 BM25 only.")
                .default(Value::Number(DEFAULT_ALPHA))
                .range(0.0, 1.0)
                .searchable(0.0, 1.0),
        )
        .param(
            Param::of("order", Type::Text, "\"score\" (highest first) or \"time\" (the top k in time order).")
                .default(Value::Text(Arc::from("score"))),
        );
        RetrieveSubtitles { sig, store, model: catalog::MINILM, cache: Arc::new(EmbeddingCache::new(dir)) }
    }

    /// The embedding cache (for inspection in tests and tools).
    pub fn cache(&self) -> &Arc<EmbeddingCache> {
        &self.cache
    }
}

/// Whether the top k come highest score first or in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Score,
    Time,
}

/// Splits `text` into sentences: a sentence ends after `.`, `?`, `!` or `…`
/// followed by white space (or the end), or at a line break. Sentences are
/// trimmed; empty ones are dropped.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ends = match c {
            '\n' | '\r' => true,
            '.' | '?' | '!' | '…' => {
                current.push(c);
                chars.peek().is_none_or(|n| n.is_whitespace())
            }
            _ => {
                current.push(c);
                false
            }
        };
        if ends {
            let s = current.trim();
            if !s.is_empty() {
                out.push(s.to_string());
            }
            current.clear();
        }
    }
    let s = current.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    out
}

/// What the embedding step did.
struct Dense {
    cosines: Vec<f64>,
    cache_note: serde_json::Value,
}

impl RetrieveSubtitles {
    async fn candidates(&self, source: &Value, ctx: &StepContext) -> Result<(Vec<Cue>, String), ModuleError> {
        match source {
            Value::Video(_) | Value::Clip(_) => {
                let clip = match source {
                    Value::Video(v) => Arc::new(Clip::whole(v.clone())),
                    Value::Clip(c) => c.clone(),
                    _ => return Err(ModuleError::invalid("source", "expected a video or clip")),
                };
                let what = format!("subtitles of {}", clip.video.path.display());
                let subs = crate::subtitles::Subtitles::new();
                let args = Args::with_defaults(subs.signature(), [("video", Value::Clip(clip))], vec![]);
                match subs.call(args, ctx).await? {
                    Value::TimedText(t) => Ok((t.cues.clone(), what)),
                    other => Err(ModuleError::Failed(format!("subtitles returned {}, not TimedText", other.type_of()))),
                }
            }
            Value::TimedText(t) => Ok((t.cues.clone(), "timed text".into())),
            Value::Text(s) => Ok((
                split_sentences(s)
                    .into_iter()
                    .map(|text| Cue { start: 0.0, end: 0.0, text, score: None, bbox: None, source: TEXT_SOURCE.into() })
                    .collect(),
                "sentences of the text".into(),
            )),
            other => Err(ModuleError::invalid("source", format!("expected a video, clip, timed text or text, got {}", other.type_of()))),
        }
    }

    /// Cosines of the query against every cue, with cue embeddings from (or into) the cache.
    async fn dense(&self, query: &str, texts: Vec<String>, ctx: &StepContext) -> Result<Dense, ModuleError> {
        let store = self.store.clone();
        let model = self.model;
        let cache = self.cache.clone();
        let query = query.to_string();
        ctx.blocking(move || {
            let embedder = Embedder::load(&store, model)?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let key = cache::key(embedder.id(), &refs);
            let mut note = json!({ "cues": refs.len(), "key": key, "dir": cache.dir().map(|d| d.display().to_string()) });
            let cues = match cache.get(&key, refs.len(), embedder.dim()) {
                Ok((v, hit)) => {
                    note["hit"] = json!(match hit {
                        Hit::Memory => "memory",
                        Hit::Disk => "disk",
                    });
                    v
                }
                Err(miss) => {
                    note["hit"] = json!("miss");
                    if let Miss::Corrupt(reason) = miss {
                        tracing::warn!(key, "embedding cache entry ignored: {reason}");
                        note["corrupt"] = json!(reason);
                    }
                    let v = Arc::new(embedder.embed(&refs)?);
                    if let Err(reason) = cache.put(&key, v.clone()) {
                        tracing::warn!("embedding cache not written: {reason}");
                        note["write_error"] = json!(reason);
                    }
                    v
                }
            };
            let q = embedder.embed(&[query.as_str()])?.pop().unwrap_or_default();
            let cosines = cues.iter().map(|c| f64::from(dot(&q, c))).collect();
            Ok(Dense { cosines, cache_note: note })
        })
        .await
    }
}

#[async_trait]
impl Module for RetrieveSubtitles {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let query = args.text("query")?;
        let query = query.trim();
        if query.is_empty() {
            return Err(ModuleError::invalid("query", "retrieve_subtitles: the query is empty"));
        }
        let k = args.number("k")?;
        if !(k.fract() == 0.0 && (1.0..=MAX_K as f64).contains(&k)) {
            return Err(ModuleError::invalid("k", format!("must be a whole number from 1 to {MAX_K}, got {k}")));
        }
        let k = k as usize;
        let alpha = args.number("alpha")?;
        if !(0.0..=1.0).contains(&alpha) {
            return Err(ModuleError::invalid("alpha", format!("must be in [0, 1], got {alpha}")));
        }
        let order = match args.text("order")?.trim() {
            "score" => Order::Score,
            "time" => Order::Time,
            other => return Err(ModuleError::invalid("order", format!("must be \"score\" or \"time\", got \"{other}\""))),
        };
        let source = args.get("source").cloned().ok_or_else(|| ModuleError::invalid("source", "missing"))?;
        let (cues, what) = self.candidates(&source, ctx).await?;
        if cues.is_empty() {
            ctx.note("no_cues", format!("nothing to search: the {what} have no cues"));
            return Ok(Value::TimedText(Arc::new(TimedText::default())));
        }

        let texts: Vec<String> = cues.iter().map(|c| c.text.clone()).collect();
        let bm25 = Bm25::new(&texts).scores(query);
        let dense = if alpha > 0.0 {
            let d = self.dense(query, texts, ctx).await?;
            ctx.note("embedding_cache", d.cache_note);
            Some(d.cosines)
        } else {
            ctx.note("embedding_cache", "not used: alpha is 0 (BM25 only)");
            None
        };
        let bm25_n = normalise(&bm25, Some(0.0), 0.0);
        let dense_n = dense.as_deref().map(|c| normalise(c, None, 1.0));
        let scores: Vec<f64> = (0..cues.len())
            .map(|i| alpha * dense_n.as_ref().and_then(|d| d.get(i)).copied().unwrap_or(0.0) + (1.0 - alpha) * bm25_n[i])
            .collect();

        let mut ranked: Vec<usize> = (0..cues.len()).collect();
        ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(cues[a].start.total_cmp(&cues[b].start)).then(a.cmp(&b)));
        ranked.truncate(k);
        ctx.note(
            "retrieval",
            json!({
                "candidates": cues.len(),
                "from": what,
                "alpha": alpha,
                "fusion": "alpha * minmax(cosine) + (1 - alpha) * bm25 / max(bm25)",
                "top": ranked.iter().map(|&i| json!({
                    "cue": i,
                    "start": cues[i].start,
                    "text": cues[i].text,
                    "score": scores[i],
                    "bm25": bm25[i],
                    "cosine": dense.as_ref().map(|d| d[i]),
                })).collect::<Vec<_>>(),
            }),
        );
        if order == Order::Time {
            ranked.sort_by(|&a, &b| cues[a].start.total_cmp(&cues[b].start).then(a.cmp(&b)));
        }
        let out = ranked
            .into_iter()
            .map(|i| {
                let mut c = cues[i].clone();
                c.score = Some(scores[i]);
                c
            })
            .collect();
        Ok(Value::TimedText(Arc::new(TimedText { cues: out })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_terminators_and_lines() {
        assert_eq!(
            split_sentences("Luck is chance. Is it?  Yes!\nNew line… end 3.5 x"),
            vec!["Luck is chance.", "Is it?", "Yes!", "New line…", "end 3.5 x"]
        );
        assert!(split_sentences(" \n. ").iter().all(|s| s == "."));
        assert!(split_sentences("").is_empty());
    }

    #[test]
    fn normalisation_handles_flat_lists() {
        assert_eq!(normalise(&[0.0, 2.0, 1.0], Some(0.0), 0.0), vec![0.0, 1.0, 0.5]);
        assert_eq!(normalise(&[0.0, 0.0], Some(0.0), 0.0), vec![0.0, 0.0]);
        assert_eq!(normalise(&[0.3], None, 1.0), vec![1.0]);
        assert_eq!(normalise(&[0.25, 0.75, 0.5], None, 1.0), vec![0.0, 1.0, 0.5]);
    }
}
