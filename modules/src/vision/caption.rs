//! `caption(frames, prompt, max_tokens, model)`: a sentence describing each
//! frame, by BLIP ([`super::blip`], hub checkpoint `blip-base` or another
//! one installed under that id), as timed text: one cue per frame, from its
//! time to the next frame's.
//!
//! Frames are captioned [`BATCH`] at a time, greedily, as `transformers`
//! decodes BLIP by default. The captions, the model and the time taken go
//! into the trace.

use std::sync::Arc;

use async_trait::async_trait;
use candle_core::Device;
use vprog_models::hub::{self, BLIP_BASE};
use vprog_runtime::value::{Cue, Frame, TimedText};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::blip::BlipCheckpoint;
use super::check_frame;
use super::hub_model::HubModel;
use crate::model_store::ModelStore;

/// Frames per forward pass.
pub const BATCH: usize = 8;
/// Most frames one call captions.
pub const MAX_FRAMES: usize = 512;
/// Most tokens one caption may have.
pub const MAX_TOKENS: i64 = 64;

const DOC: &str = "Describes each frame in a sentence with BLIP image captioning (hub model `blip-base`; install with \
`vprog models fetch blip-base` or `vprog models add blip-base --from DIR`). Returns timed text, one caption per frame from its \
time to the next frame's. An optional `prompt` is continued (\"a picture of\"). Use it to see what happens in sampled or retrieved \
frames when there is no speech or text to read.";

/// `caption(frames, prompt = "", max_tokens = 20, model = "blip-base")`.
pub struct Caption {
    sig: Signature,
    model: HubModel<BlipCheckpoint>,
}

impl Caption {
    /// The module; the checkpoint comes from `store`.
    pub fn new(store: Arc<ModelStore>) -> Caption {
        let sig = Signature::new("caption", "1.0.0", Returns::Is(Type::TimedText), DOC)
            .param(Param::of("frames", Type::Frames, "The frames to describe, in time order."))
            .param(Param::of("prompt", Type::Text, "Text each caption continues (empty: none).").default(Value::text("")))
            .param(
                Param::of("max_tokens", Type::Int, "Most tokens per caption (after the prompt).")
                    .default(Value::Int(20))
                    .range(1.0, MAX_TOKENS as f64),
            )
            .param(Param::of("model", Type::Text, "The BLIP checkpoint's id.").default(Value::text(BLIP_BASE)))
            .cache(CachePolicy::Disk);
        Caption { sig, model: HubModel::new(store, BLIP_BASE) }
    }
}

/// One cue per frame: from its time to the next frame's (the last one
/// lasts as long as the gap before it; a lone frame is an instant).
pub fn cues(frames: &[Frame], captions: Vec<String>, source: &str) -> TimedText {
    let times: Vec<f64> = frames.iter().map(|f| f.time).collect();
    let cues = captions
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let start = times[i];
            let end = match (times.get(i + 1), i.checked_sub(1).map(|p| times[p])) {
                (Some(next), _) => *next,
                (None, Some(prev)) => start + (start - prev),
                (None, None) => start,
            };
            Cue { start, end: end.max(start), text, score: None, bbox: None, source: source.to_string() }
        })
        .collect();
    TimedText { cues }
}

#[async_trait]
impl Module for Caption {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn missing_model(&self) -> Option<String> {
        self.model.missing()
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let frames = args.frames("frames")?;
        let prompt = args.text("prompt")?.to_string();
        let max_tokens = args.number("max_tokens")?;
        let model = args.text("model")?.trim().to_string();
        if max_tokens.fract() != 0.0 || !(1.0..=MAX_TOKENS as f64).contains(&max_tokens) {
            return Err(ModuleError::invalid("max_tokens", format!("must be a whole number from 1 to {MAX_TOKENS}, got {max_tokens}")));
        }
        if hub::spec(&model).is_none_or(|s| s.model_type != "blip") {
            return Err(ModuleError::invalid("model", format!("`{model}` is not a BLIP checkpoint vprog knows (use {BLIP_BASE})")));
        }
        if frames.len() > MAX_FRAMES {
            return Err(ModuleError::invalid(
                "frames",
                format!("{} frames, more than {MAX_FRAMES}: sample fewer (sample(video, count: 8))", frames.len()),
            ));
        }
        for (i, f) in frames.iter().enumerate() {
            check_frame("frames", i, f)?;
        }
        let net = self.model.get(&model, |id, dir| BlipCheckpoint::open(id, dir, &Device::Cpu))?;
        if frames.is_empty() {
            ctx.note("caption", "no frames: no captions");
            return Ok(Value::TimedText(Arc::new(TimedText::default())));
        }
        let started = std::time::Instant::now();
        ctx.progress.set_length(frames.len() as u64);
        let (progress, stop, shared, text) = (ctx.progress.clone(), ctx.stop_signal(), frames.clone(), prompt.clone());
        let captions = ctx
            .blocking(move || {
                let mut out = Vec::with_capacity(shared.len());
                for chunk in shared.chunks(BATCH) {
                    out.extend(net.caption(chunk, &text, max_tokens as usize, &Device::Cpu)?);
                    progress.inc(chunk.len() as u64);
                    stop.check()?;
                }
                Ok(out)
            })
            .await?;
        ctx.progress.finish();
        let seconds = started.elapsed().as_secs_f64();
        let timed = cues(&frames, captions, &format!("caption:{model}"));
        ctx.note(
            "caption",
            serde_json::json!({
                "model": model,
                "prompt": prompt,
                "frames": frames.len(),
                "captions": timed.cues.iter().map(|c| serde_json::json!({"time": c.start, "text": c.text})).collect::<Vec<_>>(),
                "seconds": seconds,
                "seconds_per_frame": seconds / frames.len() as f64,
            }),
        );
        Ok(Value::TimedText(Arc::new(timed)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vprog_runtime::value::Frame;

    use super::cues;

    fn at(time: f64) -> Frame {
        Frame { time, width: 1, height: 1, rgb: Arc::from(vec![0u8; 3]) }
    }

    #[test]
    fn each_caption_lasts_until_the_next_frame() {
        let t = cues(&[at(1.0), at(3.0), at(4.0)], vec!["a".into(), "b".into(), "c".into()], "caption:blip-base");
        let spans: Vec<(f64, f64)> = t.cues.iter().map(|c| (c.start, c.end)).collect();
        assert_eq!(spans, vec![(1.0, 3.0), (3.0, 4.0), (4.0, 5.0)]);
        assert_eq!(t.cues[1].text, "b");
        assert_eq!(t.cues[0].source, "caption:blip-base");
        let lone = cues(&[at(2.5)], vec!["x".into()], "s");
        assert_eq!((lone.cues[0].start, lone.cues[0].end), (2.5, 2.5));
    }
}
