//! Scoring a clip's frames against a text by CLIP ([`FrameSearch`]), the
//! work `retrieve_frames` and `retrieve_clips` share: sample the clip at a
//! rate (frames decoded at most [`DECODE_SIZE`] pixels on their long side,
//! then preprocessed as the checkpoint's `preprocessor_config.json` says),
//! embed every frame, embed the query, and take the cosine similarities.
//!
//! Frame embeddings are cached per video, model and sampling, in memory and
//! on disk (the cue-embedding cache of [`crate::retrieval::cache`]): a second
//! query on the same video decodes the frames but embeds only the text. One
//! [`FrameSearch`] is shared by both modules, so they load CLIP once and
//! share the cache.

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::Device;
use vprog_models::hub::{self, CLIP_VIT_B32};
use vprog_runtime::value::{Clip, Frame};
use vprog_runtime::{ModuleError, StepContext};

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
/// Frames per forward pass.
pub const BATCH: usize = 16;
/// The range of sampling rates, frames per second of clip time.
pub const FPS_RANGE: (f64, f64) = (0.01, 10.0);

/// The frames of a clip and their similarity to a query.
pub struct ScoredFrames {
    /// The sampled frames, in time order.
    pub frames: Arc<Vec<Frame>>,
    /// Cosine similarity of each frame to the query.
    pub scores: Vec<f32>,
    /// What the trace should know: model, frames scanned, rate, where the
    /// frame embeddings came from (`computed`, `memory`, `disk`) and timings.
    pub facts: serde_json::Map<String, serde_json::Value>,
}

/// CLIP frame search: the checkpoint, loaded once, and the embedding cache.
pub struct FrameSearch {
    model: HubModel<ClipCheckpoint>,
    cache: EmbeddingCache,
}

impl FrameSearch {
    /// Checkpoints come from `store`; frame embeddings are cached in
    /// `cache_dir` (default: the user's cache directory).
    pub fn new(store: Arc<ModelStore>, cache_dir: Option<PathBuf>) -> FrameSearch {
        FrameSearch { model: HubModel::new(store, CLIP_VIT_B32), cache: EmbeddingCache::new(cache_dir.or_else(default_dir)) }
    }

    /// The install command while `clip-vit-b32` is not installed.
    pub fn missing(&self) -> Option<String> {
        self.model.missing()
    }

    /// Every frame of `clip` sampled at `fps`, scored against `query` by
    /// the CLIP checkpoint `model`.
    ///
    /// # Errors
    ///
    /// An empty query, a rate out of range, a model that is not a CLIP
    /// checkpoint or is not installed, more than [`MAX_FRAMES`] frames, a
    /// decoding or model failure, or a stop.
    pub async fn score(
        &self,
        clip: &Arc<Clip>,
        query: &str,
        fps: f64,
        model: &str,
        ctx: &StepContext,
    ) -> Result<ScoredFrames, ModuleError> {
        if query.trim().is_empty() {
            return Err(ModuleError::invalid("query", "is empty: say what the frames should show"));
        }
        if !(fps.is_finite() && (FPS_RANGE.0..=FPS_RANGE.1).contains(&fps)) {
            return Err(ModuleError::invalid("fps", format!("must be between {} and {}, got {fps}", FPS_RANGE.0, FPS_RANGE.1)));
        }
        if hub::spec(model).is_none_or(|s| s.model_type != "clip") {
            return Err(ModuleError::invalid("model", format!("`{model}` is not a CLIP checkpoint vprog knows (use {CLIP_VIT_B32})")));
        }
        let net = self.model.get(model, |id, dir| ClipCheckpoint::open(id, dir, &Device::Cpu))?;
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
        let mut facts = serde_json::Map::new();
        facts.insert("model".into(), model.into());
        facts.insert("frames_scanned".into(), frames.len().into());
        facts.insert("fps".into(), fps.into());
        if frames.is_empty() {
            return Ok(ScoredFrames { frames, scores: Vec::new(), facts });
        }
        let manifest = std::fs::read(self.model.store().dir_of(model).join(vprog_models::store::MANIFEST)).unwrap_or_default();
        let key = frames_key(&manifest, &clip.video.hash, &frames);
        let (vectors, source) = match self.cache.get(&key, frames.len(), net.config.projection_dim) {
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
                    tracing::warn!("frame embeddings not cached: {e}");
                }
                (v, "computed")
            }
        };
        let embedded = started.elapsed().as_secs_f64() - decoded;
        let (text, shared) = (query.to_string(), net.clone());
        let q = ctx
            .blocking(move || {
                let q = shared.embed_texts(&[&text], &Device::Cpu)?;
                Ok(q.to_vec2::<f32>().map_err(|e| ModuleError::Failed(format!("CLIP query embedding: {e}")))?.swap_remove(0))
            })
            .await?;
        let scores: Vec<f32> = vectors.iter().map(|v| v.iter().zip(&q).map(|(a, b)| a * b).sum()).collect();
        facts.insert("frame_embeddings".into(), source.into());
        facts.insert(
            "score_range".into(),
            serde_json::json!([
                scores.iter().copied().fold(f32::INFINITY, f32::min),
                scores.iter().copied().fold(f32::NEG_INFINITY, f32::max)
            ]),
        );
        facts.insert("decode_seconds".into(), decoded.into());
        facts.insert("embed_seconds".into(), embedded.into());
        facts.insert("seconds".into(), started.elapsed().as_secs_f64().into());
        Ok(ScoredFrames { frames, scores, facts })
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
        out.extend(e.to_vec2::<f32>().map_err(|e| ModuleError::Failed(format!("CLIP frame embeddings: {e}")))?);
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
