//! `retrieve_frames(clip, query, k, fps, model)`: the frames of a clip that
//! best match a text, by CLIP image–text similarity ([`super::frame_search`],
//! hub checkpoint `clip-vit-b32` or another one installed under that id).
//!
//! The clip is sampled at `fps`, every frame and the query are embedded,
//! and the `k` frames of highest cosine similarity are returned in time
//! order. Their scores go into the trace (and the report shows them under
//! the frames). Frame embeddings are cached, so a second query on the same
//! video embeds only the text.

use std::sync::Arc;

use async_trait::async_trait;
use vprog_models::hub::CLIP_VIT_B32;
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::frame_search::{top_k, FrameSearch, FPS_RANGE};

/// Most frames one call returns.
pub const MAX_K: i64 = 256;

const DOC: &str = "Finds the frames of a clip that best match a text query by CLIP image-text similarity (hub model \
`clip-vit-b32`; install with `vprog models fetch clip-vit-b32` or `vprog models add clip-vit-b32 --from DIR`). Samples the clip at \
`fps`, returns the `k` best-matching frames in time order; their similarity scores are in the trace. Use it to look at the moments \
a question is about (\"the man in red\", \"a dog on the beach\") before describing or counting them.";

/// `retrieve_frames(clip, query, k = 8, fps = 1.0, model = "clip-vit-b32")`.
pub struct RetrieveFrames {
    sig: Signature,
    search: Arc<FrameSearch>,
}

impl RetrieveFrames {
    /// The module, searching with `search`.
    pub fn new(search: Arc<FrameSearch>) -> RetrieveFrames {
        let sig = Signature::new("retrieve_frames", "1.0.0", Returns::Is(Type::Frames), DOC)
            .param(Param::of("clip", Type::Clip, "The clip (or whole video) to search."))
            .param(Param::of("query", Type::Text, "What the frames should show."))
            .param(Param::of("k", Type::Int, "How many frames to return (at most).").default(Value::Int(8)).range(1.0, MAX_K as f64))
            .param(
                Param::of("fps", Type::Number, "Frames per second of clip time to scan.")
                    .default(Value::Number(1.0))
                    .range(FPS_RANGE.0, FPS_RANGE.1)
                    .searchable(0.25, 2.0),
            )
            .param(Param::of("model", Type::Text, "The CLIP checkpoint's id.").default(Value::text(CLIP_VIT_B32)))
            .cache(CachePolicy::Disk);
        RetrieveFrames { sig, search }
    }
}

#[async_trait]
impl Module for RetrieveFrames {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn missing_model(&self) -> Option<String> {
        self.search.missing()
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("clip")?;
        let query = args.text("query")?;
        let k = args.number("k")?;
        let fps = args.number("fps")?;
        let model = args.text("model")?.trim().to_string();
        if k.fract() != 0.0 || !(1.0..=MAX_K as f64).contains(&k) {
            return Err(ModuleError::invalid("k", format!("must be a whole number from 1 to {MAX_K}, got {k}")));
        }
        let scored = self.search.score(&clip, &query, fps, &model, ctx).await?;
        let (frames, scores, mut facts) = (scored.frames, scored.scores, scored.facts);
        if frames.is_empty() {
            ctx.note("retrieve_frames", "no frames in the clip: empty result");
            return Ok(Value::Frames(Arc::new(Vec::new())));
        }
        let best = top_k(&scores, k as usize);
        let mut picked: Vec<usize> = best.clone();
        picked.sort_unstable();
        facts.insert("query".into(), query.to_string().into());
        facts.insert(
            "best".into(),
            best.iter().map(|&i| serde_json::json!({"time": frames[i].time, "score": scores[i]})).collect::<Vec<_>>().into(),
        );
        ctx.note("retrieve_frames", serde_json::Value::Object(facts));
        Ok(Value::Frames(Arc::new(picked.into_iter().map(|i| frames[i].clone()).collect())))
    }
}
