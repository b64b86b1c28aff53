//! `retrieve_frames(clip, query, k, fps, model)`: the frames of a clip that
//! best match a text, by CLIP image–text similarity ([`super::clip`], hub
//! checkpoint `clip-vit-b32` or another one installed under that id).
//!
//! The clip is sampled at `fps` (frames decoded at most [`DECODE_SIZE`]
//! pixels on their long side, then preprocessed as the checkpoint's
//! `preprocessor_config.json` says); every frame is embedded, the query is
//! embedded, and the `k` frames of highest cosine similarity are returned
//! in time order. Their scores go into the trace.
//!
//! Frame embeddings are cached per video, model and sampling, in memory and
//! on disk (the cue-embedding cache of [`crate::retrieval::cache`]): a second
//! query on the same video decodes the frames but embeds only the text.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::Device;
use vprog_models::hub::{self, CLIP_VIT_B32};
use vprog_runtime::value::Frame;
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::clip::ClipCheckpoint;
use super::hub_model::HubModel;
use crate::model_store::ModelStore;
use crate::retrieval::cache::{default_dir, EmbeddingCache, Hit};
use crate::video::{sample_clip, SampleMode};

/// Longest side frames are decoded at before preprocessing, in pixels
/// (CLIP sees 224; decoding at native size would hold gigabytes of a long
/// video in memory).
pub const DECODE_SIZE: u32 = 640;
/// Most frames one call scans.
pub const MAX_FRAMES: usize = 4096;
/// Most frames one call returns.
pub const MAX_K: i64 = 256;
/// Frames per forward pass.
pub const BATCH: usize = 16;

const DOC: &str = "Finds the frames of a clip that best match a text query by CLIP image-text similarity (hub model \
`clip-vit-b32`; install with `vprog models fetch clip-vit-b32` or `vprog models add clip-vit-b32 --from DIR`). Samples the clip at \
`fps`, returns the `k` best-matching frames in time order; their similarity scores are in the trace. Use it to look at the moments \
a question is about (\"the man in red\", \"a dog on the beach\") before describing or counting them.";

/// `retrieve_frames(clip, query, k = 8, fps = 1.0, model = "clip-vit-b32")`.
pub struct RetrieveFrames {
    sig: Signature,
    model: HubModel<ClipCheckpoint>,
    cache: EmbeddingCache,
}

impl RetrieveFrames {
    /// The module; the checkpoint comes from `store`, frame embeddings are
    /// cached in `cache_dir` (default: the user's cache directory).
    pub fn new(store: Arc<ModelStore>, cache_dir: Option<PathBuf>) -> RetrieveFrames {
        let sig = Signature::new("retrieve_frames", "1.0.0", Returns::Is(Type::Frames), DOC)
            .param(Param::of("clip", Type::Clip, "The clip (or whole video) to search."))
            .param(Param::of("query", Type::Text, "What the frames should show."))
            .param(Param::of("k", Type::Int, "How many frames to return (at most).").default(Value::Int(8)).range(1.0, MAX_K as f64))
            .param(
                Param::of("fps", Type::Number, "Frames per second of clip time to scan.")
                    .default(Value::Number(1.0))
                    .range(0.01, 10.0)
                    .searchable(0.25, 2.0),
            )
            .param(Param::of("model", Type::Text, "The CLIP checkpoint's id.").default(Value::text(CLIP_VIT_B32)))
            .cache(CachePolicy::Disk);
        RetrieveFrames { sig, model: HubModel::new(store, CLIP_VIT_B32), cache: EmbeddingCache::new(cache_dir.or_else(default_dir)) }
    }
}

/// The cache key of `frames` of video `video_hash` embedded by the model
/// whose manifest is `model_manifest`.
fn frames_key(model_manifest: &[u8], video_hash: &str, frames: &[Frame]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"vprog-frame-embeddings\0");
    h.update(blake3::hash(model_manifest).as_bytes());
    h.update(video_hash.as_bytes());
    h.update(&DECODE_SIZE.to_le_bytes());
    for f in frames {
        h.update(&f.time.to_le_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Unit-length embeddings of `frames`, [`BATCH`] at a time.
fn embed_frames(
    clip: &ClipCheckpoint,
    frames: &[Frame],
    on_batch: &mut dyn FnMut(usize) -> Result<(), ModuleError>,
) -> Result<Vec<Vec<f32>>, ModuleError> {
    let mut out = Vec::with_capacity(frames.len());
    for chunk in frames.chunks(BATCH) {
        let e = clip.embed_frames(chunk, &Device::Cpu)?;
        out.extend(e.to_vec2::<f32>().map_err(|e| ModuleError::Failed(format!("retrieve_frames: {e}")))?);
        on_batch(chunk.len())?;
    }
    Ok(out)
}

/// Indices of the `k` highest scores, best first (ties: earlier first).
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

#[async_trait]
impl Module for RetrieveFrames {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn missing_model(&self) -> Option<String> {
        self.model.missing()
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("clip")?;
        let query = args.text("query")?;
        let k = args.number("k")?;
        let fps = args.number("fps")?;
        let model = args.text("model")?.trim().to_string();
        if query.trim().is_empty() {
            return Err(ModuleError::invalid("query", "is empty: say what the frames should show"));
        }
        if k.fract() != 0.0 || !(1.0..=MAX_K as f64).contains(&k) {
            return Err(ModuleError::invalid("k", format!("must be a whole number from 1 to {MAX_K}, got {k}")));
        }
        if !(fps.is_finite() && (0.01..=10.0).contains(&fps)) {
            return Err(ModuleError::invalid("fps", format!("must be between 0.01 and 10, got {fps}")));
        }
        if hub::spec(&model).is_none_or(|s| s.model_type != "clip") {
            return Err(ModuleError::invalid("model", format!("`{model}` is not a CLIP checkpoint vprog knows (use {CLIP_VIT_B32})")));
        }
        let net = self.model.get(&model, |id, dir| ClipCheckpoint::open(id, dir, &Device::Cpu))?;
        let frames_wanted = clip.segments.iter().map(|s| (s.end - s.start) * fps).sum::<f64>().ceil();
        if frames_wanted > MAX_FRAMES as f64 {
            return Err(ModuleError::invalid(
                "fps",
                format!("would scan {frames_wanted} frames, more than {MAX_FRAMES}: lower fps or trim the clip"),
            ));
        }
        let started = std::time::Instant::now();
        let (progress, stop) = (ctx.progress.clone(), ctx.stop_signal());
        let shared = clip.clone();
        let sampled = ctx.blocking(move || sample_clip(&shared, &SampleMode::Fps(fps), DECODE_SIZE, &progress, &stop)).await?;
        let frames = Arc::new(sampled.frames);
        let decoded = started.elapsed().as_secs_f64();
        if frames.is_empty() {
            ctx.note("retrieve_frames", "no frames in the clip: empty result");
            return Ok(Value::Frames(Arc::new(Vec::new())));
        }
        let manifest = std::fs::read(self.model.store().dir_of(&model).join(vprog_models::store::MANIFEST)).unwrap_or_default();
        let key = frames_key(&manifest, &clip.video.hash, &frames);
        let dim = net.config.projection_dim;
        let cached = self.cache.get(&key, frames.len(), dim);
        let (vectors, source) = match cached {
            Ok((v, hit)) => (v, if hit == Hit::Memory { "memory" } else { "disk" }),
            Err(_) => {
                ctx.progress.set_length(frames.len() as u64);
                let (progress, stop, shared, net2) = (ctx.progress.clone(), ctx.stop_signal(), frames.clone(), net.clone());
                let v = ctx
                    .blocking(move || {
                        embed_frames(&net2, &shared, &mut |n| {
                            progress.inc(n as u64);
                            stop.check()
                        })
                    })
                    .await?;
                ctx.progress.finish();
                let v = Arc::new(v);
                if let Err(e) = self.cache.put(&key, v.clone()) {
                    tracing::warn!("retrieve_frames: frame embeddings not cached: {e}");
                }
                (v, "computed")
            }
        };
        let embedded = started.elapsed().as_secs_f64() - decoded;
        let (text, shared) = (query.clone(), net.clone());
        let q = ctx
            .blocking(move || {
                let q = shared.embed_texts(&[&text], &Device::Cpu)?;
                Ok(q.to_vec2::<f32>().map_err(|e| ModuleError::Failed(format!("retrieve_frames: {e}")))?.swap_remove(0))
            })
            .await?;
        let scores: Vec<f32> = vectors.iter().map(|v| v.iter().zip(&q).map(|(a, b)| a * b).sum()).collect();
        let best = top_k(&scores, k as usize);
        let mut picked: Vec<usize> = best.clone();
        picked.sort_unstable();
        ctx.note(
            "retrieve_frames",
            serde_json::json!({
                "query": query,
                "model": model,
                "frames_scanned": frames.len(),
                "fps": fps,
                "frame_embeddings": source,
                "best": best.iter().map(|&i| serde_json::json!({"time": frames[i].time, "score": scores[i]})).collect::<Vec<_>>(),
                "score_range": [scores.iter().copied().fold(f32::INFINITY, f32::min), scores.iter().copied().fold(f32::NEG_INFINITY, f32::max)],
                "decode_seconds": decoded,
                "embed_seconds": embedded,
                "seconds": started.elapsed().as_secs_f64(),
            }),
        );
        Ok(Value::Frames(Arc::new(picked.into_iter().map(|i| frames[i].clone()).collect())))
    }
}

#[cfg(test)]
mod tests {
    use super::top_k;

    #[test]
    fn the_best_scores_come_first_and_ties_keep_time_order() {
        assert_eq!(top_k(&[0.1, 0.9, 0.5, 0.9], 3), vec![1, 3, 2]);
        assert_eq!(top_k(&[0.2], 5), vec![0]);
        assert!(top_k(&[], 2).is_empty());
    }
}
