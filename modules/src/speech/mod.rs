//! Speech recognition with Whisper on candle: module `transcribe`.
//!
//! - [`audio`]: the audio stream of a video decoded with FFmpeg and resampled
//!   to 16 kHz mono.
//! - [`mel`]: Whisper's log-mel spectrogram (filterbank and STFT computed
//!   here).
//! - [`whisper`]: model loading (cached per process) and decoding with
//!   timestamps.
//!
//! The weights are the store's `whisper-tiny.en` (`vprog models fetch
//! whisper-tiny.en`), converted from CTranslate2 by
//! [`vprog_models::convert::ct2`].

pub mod audio;
pub mod mel;
pub mod whisper;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use vprog_models::catalog::{self, Task};
use vprog_runtime::module::Device as RunDevice;
use vprog_runtime::value::{Cue, TimedText};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, ParamType, Registry, Returns, Signature, StepContext, Type, Value};

use crate::model_store::{locate, module_error, ModelStore};

/// Registers this family's modules.
pub fn register(r: &mut Registry, store: &Arc<ModelStore>) {
    if let Err(e) = r.register(Arc::new(Transcribe::new(store.clone()))) {
        tracing::error!(module = "transcribe", "{e}; skipping the speech module");
    }
}

const TRANSCRIBE_DOC: &str = "Speech in a video or clip as timed text, recognised by Whisper (tiny.en by default, English only).
The audio stream (the best one FFmpeg finds) is decoded and resampled to 16 kHz mono; each segment of a clip is transcribed on its own. \
Whisper reads 30 s windows and decodes greedily with timestamp tokens (deterministic: no sampling, no conditioning on earlier text); \
each timestamped segment becomes a cue with `start`/`end` in video seconds (inside the clip's segments, in time order), its text trimmed, \
`source` `whisper:tiny.en` (for model `whisper-tiny.en`) and `score` = exp(mean log-probability of its text tokens), in (0, 1]: \
low scores mark guesses. Windows Whisper judges silent (no-speech probability > 0.6 and mean log-probability < -1) give no cues; \
a run of 3+ repeated phrases (a Whisper hallucination loop) is cut after the first copy. \
Music, noise or silence may give no cues or a few low-score ones. A video without an audio stream gives an empty result \
and a `no_audio` note in the trace (not an error). The model must be installed (`vprog models fetch whisper-tiny.en`). \
Slow: about 0.2 × the audio's duration on 2 CPU cores (release build); results are cached per video.";

/// `transcribe(source, model = "whisper-tiny.en")`.
pub struct Transcribe {
    sig: Signature,
    store: Arc<ModelStore>,
}

impl Transcribe {
    /// The module, loading models from `store`.
    pub fn new(store: Arc<ModelStore>) -> Transcribe {
        let sig = Signature::new("transcribe", "1.0.0", Returns::Is(Type::TimedText), TRANSCRIBE_DOC)
            .param(Param::required(
                "source",
                ParamType::OneOf(vec![Type::Video, Type::Clip]),
                "The video or clip whose speech to transcribe.",
            ))
            .param(
                Param::of("model", Type::Text, "Speech recognition model id from the model store (`vprog models list`).")
                    .default(Value::text(catalog::WHISPER_TINY_EN)),
            )
            .cache(CachePolicy::Disk);
        Transcribe { sig, store }
    }
}

/// The `source` of the cues a model gives: `whisper-tiny.en` → `whisper:tiny.en`.
pub fn cue_source(model_id: &str) -> String {
    match model_id.strip_prefix("whisper-") {
        Some(rest) => format!("whisper:{rest}"),
        None => format!("whisper:{model_id}"),
    }
}

enum Outcome {
    NoAudio,
    Text { cues: Vec<Cue>, notes: Vec<(&'static str, serde_json::Value)> },
}

#[async_trait]
impl Module for Transcribe {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("source")?;
        let model_id = args.text("model")?.to_string();
        let spec = ModelStore::spec(&model_id).map_err(module_error)?;
        if spec.task != Task::SpeechRecognition {
            return Err(ModuleError::invalid("model", format!("`{model_id}` is a {} model, not a speech recognition model", spec.task)));
        }
        let installed = locate(&self.store, &model_id)?;
        if clip.duration() <= 0.0 {
            ctx.note("empty_clip", "the clip covers no time; nothing to transcribe");
            return Ok(Value::TimedText(Arc::new(TimedText::default())));
        }
        let device = match ctx.device {
            RunDevice::Cpu => candle_core::Device::Cpu,
            RunDevice::Cuda(i) => candle_core::Device::cuda_if_available(i).unwrap_or(candle_core::Device::Cpu),
        };
        let progress = ctx.progress.clone();
        let source = cue_source(&model_id);
        let outcome = ctx
            .blocking(move || {
                let started = Instant::now();
                let Some(decoded) = audio::decode_ranges(&clip.video.path, &clip.segments)? else { return Ok(Outcome::NoAudio) };
                let audio_s = started.elapsed().as_secs_f64();
                let loading = Instant::now();
                let model = whisper::load(&installed.dir, &model_id, &device)?;
                let load_s = loading.elapsed().as_secs_f64();
                let seconds: f64 = decoded.ranges.iter().map(|r| r.samples.len() as f64 / mel::SAMPLE_RATE as f64).sum();
                progress.set_length((seconds * 10.0).ceil().max(1.0) as u64);
                let recognising = Instant::now();
                let mut cues: Vec<Cue> = Vec::new();
                let mut stats = Vec::new();
                let mut done = 0u64;
                for r in &decoded.ranges {
                    let len_s = r.samples.len() as f64 / mel::SAMPLE_RATE as f64;
                    let base = done;
                    let (segments, s) = model.transcribe(&r.samples, |f| {
                        let now = base + (f * len_s * 10.0) as u64;
                        progress.inc(now.saturating_sub(done));
                        done = done.max(now);
                    })?;
                    done = base + (len_s * 10.0) as u64;
                    stats.push(s);
                    for seg in segments {
                        let start = (r.range.start + seg.start).clamp(r.range.start, r.range.end);
                        let start = cues.last().map_or(start, |c: &Cue| start.max(c.start));
                        let end = (r.range.start + seg.end).clamp(start, r.range.end);
                        cues.push(Cue {
                            start,
                            end,
                            text: seg.text,
                            score: Some(seg.avg_logprob.exp()),
                            bbox: None,
                            source: source.clone(),
                        });
                    }
                }
                progress.finish();
                let recognise_s = recognising.elapsed().as_secs_f64();
                let total_s = started.elapsed().as_secs_f64();
                let notes = vec![
                    (
                        "audio",
                        serde_json::json!({
                            "stream": decoded.stream,
                            "codec": decoded.codec,
                            "seconds": seconds,
                            "ranges": decoded.ranges.len(),
                            "bad_packets": decoded.bad_packets,
                        }),
                    ),
                    ("decoding", serde_json::to_value(&stats).unwrap_or_default()),
                    (
                        "timing",
                        serde_json::json!({
                            "audio_seconds": seconds,
                            "decode_audio_s": audio_s,
                            "load_model_s": load_s,
                            "recognise_s": recognise_s,
                            "total_s": total_s,
                            "rtf": if seconds > 0.0 { total_s / seconds } else { 0.0 },
                        }),
                    ),
                ];
                Ok(Outcome::Text { cues, notes })
            })
            .await?;
        match outcome {
            Outcome::NoAudio => {
                ctx.note("no_audio", "the file has no audio stream: nothing to transcribe, the result is empty");
                Ok(Value::TimedText(Arc::new(TimedText::default())))
            }
            Outcome::Text { cues, notes } => {
                for (k, v) in notes {
                    ctx.note(k, v);
                }
                if cues.is_empty() {
                    ctx.note("no_speech", "no speech was recognised in the audio");
                }
                Ok(Value::TimedText(Arc::new(TimedText { cues })))
            }
        }
    }
}
