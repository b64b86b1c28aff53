//! Speech recognition with Whisper on candle: module `transcribe`.
//!
//! - [`audio`]: the audio stream of a video decoded with FFmpeg and resampled
//!   to 16 kHz mono.
//! - [`mel`]: Whisper's log-mel spectrogram (filterbank and STFT computed
//!   here).
//! - [`whisper`]: model loading (cached per process) and decoding with
//!   timestamps.
//! - [`vad`]: Silero VAD on candle: which parts of the audio hold speech, so
//!   only those reach Whisper.
//!
//! The weights are the store's `whisper-tiny.en` (`vprog models fetch
//! whisper-tiny.en`), converted from CTranslate2 by
//! [`vprog_models::convert::ct2`], and `silero-vad` (`vprog models fetch
//! silero-vad`).

pub mod audio;
pub mod mel;
pub mod vad;
pub mod whisper;

use std::ops::Range;
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

const TRANSCRIBE_DOC: &str = "Speech in a video or clip as timed text, recognised by Whisper (tiny.en by default, English only), only where a voice activity detector finds speech.
The audio stream (the best one FFmpeg finds) is decoded and resampled to 16 kHz mono; each segment of a clip is transcribed on its own. \
With `vad: true` (the default) Silero VAD (model `silero-vad`) first scores every 32 ms of audio; speech is where the probability reaches 0.5 \
(and stays until it falls below 0.35 for 100 ms), pieces under 250 ms are dropped, each is padded by 30 ms (Silero's defaults), \
pieces less than 0.5 s apart are joined and padded by 0.2 s more, and only those spans are decoded (joined end to end; times map back to the video). \
No speech at all gives an empty result and a `no_speech` note, never text. `vad: false` decodes all the audio. \
If `silero-vad` is not installed, all the audio is decoded and the trace's `vad` note says `not installed (vprog models fetch silero-vad)`. \
Whisper reads 30 s windows and decodes greedily with timestamp tokens (deterministic: no sampling, no conditioning on earlier text); \
each timestamped segment becomes a cue with `start`/`end` in video seconds (inside the clip's segments, in time order), its text trimmed, \
`source` `whisper:tiny.en` (for model `whisper-tiny.en`) and `score` = exp(mean log-probability of its text tokens), in (0, 1]: \
low scores mark guesses. Windows are dropped as Whisper's transcribe.py judges them: silent (no-speech probability > 0.6 and mean log-probability < -1), \
repetitive (zlib compression ratio of the text > 2.4) or unlikely (mean log-probability < -1); each dropped window is listed in the `rejected` note \
with its no-speech probability, mean log-probability, compression ratio and mean VAD probability. \
A run of 3+ repeated phrases (a Whisper hallucination loop) is cut after the first copy. \
A video without an audio stream gives an empty result and a `no_audio` note in the trace (not an error). The model must be installed (`vprog models fetch whisper-tiny.en`). \
Slow: about 0.2 × the duration of the speech on 2 CPU cores (release build); results are cached per video.";

/// `transcribe(source, model = "whisper-tiny.en")`.
pub struct Transcribe {
    sig: Signature,
    store: Arc<ModelStore>,
}

impl Transcribe {
    /// The module, loading models from `store`.
    pub fn new(store: Arc<ModelStore>) -> Transcribe {
        let sig = Signature::new("transcribe", "1.1.0", Returns::Is(Type::TimedText), TRANSCRIBE_DOC)
            .param(Param::required(
                "source",
                ParamType::OneOf(vec![Type::Video, Type::Clip]),
                "The video or clip whose speech to transcribe.",
            ))
            .param(
                Param::of("model", Type::Text, "Speech recognition model id from the model store (`vprog models list`).")
                    .default(Value::text(catalog::WHISPER_TINY_EN)),
            )
            .param(
                Param::of(
                    "vad",
                    Type::Bool,
                    "Decode only where voice activity detection (Silero VAD, model `silero-vad`) finds speech; `false` decodes all the audio.",
                )
                .default(Value::Bool(true)),
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

/// Silence joined into one span when shorter than this, seconds.
const VAD_MAX_GAP_S: f64 = 0.5;
/// Padding around each joined span, on top of Silero's own 30 ms, seconds.
const VAD_PAD_S: f64 = 0.2;

enum Outcome {
    NoAudio,
    Text { cues: Vec<Cue>, notes: Vec<(&'static str, serde_json::Value)>, speech: bool },
}

/// Where the samples Whisper reads come from: `(start in the joined audio,
/// start in the range's audio, length)`, in samples, in order.
struct SpanMap(Vec<(usize, usize, usize)>);

impl SpanMap {
    /// The range-audio sample of joined sample `t`: inside a span, its
    /// source; past a span's end, that end (`end`) or the next span's start.
    fn source(&self, t: usize, end: bool) -> usize {
        let k = self.0.partition_point(|&(j, _, _)| j <= t).saturating_sub(1);
        let Some(&(j, src, len)) = self.0.get(k) else { return t };
        let off = t.saturating_sub(j);
        if off <= len {
            return src + off;
        }
        match (end, self.0.get(k + 1)) {
            (false, Some(&(_, next, _))) => next,
            _ => src + len,
        }
    }
}

/// The VAD's findings on one range's audio.
struct RangeVad {
    probs: Vec<f32>,
    spans: Vec<Range<usize>>,
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
        let use_vad = args.bool("vad")?;
        // The VAD: installed, not installed (fall back to all the audio, said in the trace), or off.
        let vad_dir = if use_vad {
            match locate(&self.store, catalog::SILERO_VAD) {
                Ok(m) => Some(m.dir),
                Err(ModuleError::MissingModel { .. }) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        if clip.duration() <= 0.0 {
            ctx.note("empty_clip", "the clip covers no time; nothing to transcribe");
            return Ok(Value::TimedText(Arc::new(TimedText::default())));
        }
        let device = match ctx.device {
            RunDevice::Cpu => candle_core::Device::Cpu,
            RunDevice::Cuda(i) => candle_core::Device::cuda_if_available(i).unwrap_or(candle_core::Device::Cpu),
        };
        let (progress, stop) = (ctx.progress.clone(), ctx.stop_signal());
        let source = cue_source(&model_id);
        let outcome = ctx
            .blocking(move || {
                let started = Instant::now();
                let Some(decoded) = audio::decode_ranges(&clip.video.path, &clip.segments)? else { return Ok(Outcome::NoAudio) };
                let audio_s = started.elapsed().as_secs_f64();
                let sr = mel::SAMPLE_RATE as f64;
                let seconds: f64 = decoded.ranges.iter().map(|r| r.samples.len() as f64 / sr).sum();

                // Voice activity first: the spans of each range that Whisper will read.
                let vad_started = Instant::now();
                let vad_model = match &vad_dir {
                    Some(dir) => Some(vad::load(dir, catalog::SILERO_VAD)?),
                    None => None,
                };
                let params = vad::VadParams::default();
                let mut vads: Vec<Option<RangeVad>> = Vec::new();
                for r in &decoded.ranges {
                    let Some(model) = &vad_model else {
                        vads.push(None);
                        continue;
                    };
                    let probs = model.speech_probs(&r.samples).map_err(|e| ModuleError::Failed(format!("voice activity detection failed: {e}")))?;
                    let n = r.samples.len();
                    let segments = vad::speech_segments(&probs, n, &params);
                    let gap = (VAD_MAX_GAP_S * sr) as usize;
                    let pad = (VAD_PAD_S * sr) as usize;
                    vads.push(Some(RangeVad { probs, spans: vad::merge_segments(&segments, gap, pad, n) }));
                }
                let vad_s = vad_started.elapsed().as_secs_f64();
                let to_decode: f64 = decoded
                    .ranges
                    .iter()
                    .zip(&vads)
                    .map(|(r, v)| match v {
                        Some(v) => v.spans.iter().map(|s| s.len() as f64 / sr).sum(),
                        None => r.samples.len() as f64 / sr,
                    })
                    .sum::<f64>()
                    .max(0.0);
                let vad_note = if !use_vad {
                    serde_json::json!("off (vad: false): all the audio was decoded")
                } else if vad_model.is_none() {
                    serde_json::json!(format!("not installed (vprog models fetch {})", catalog::SILERO_VAD))
                } else {
                    let regions: Vec<[f64; 2]> = decoded
                        .ranges
                        .iter()
                        .zip(&vads)
                        .flat_map(|(r, v)| {
                            v.iter().flat_map(|v| v.spans.iter()).map(|s| [r.range.start + s.start as f64 / sr, r.range.start + s.end as f64 / sr])
                        })
                        .collect();
                    serde_json::json!({
                        "model": catalog::SILERO_VAD,
                        "params": params,
                        "max_gap_s": VAD_MAX_GAP_S,
                        "pad_s": VAD_PAD_S,
                        "speech_seconds": to_decode,
                        "audio_seconds": seconds,
                        "regions": regions,
                    })
                };
                if vad_model.is_some() && to_decode <= 0.0 {
                    let notes = vec![
                        ("vad", vad_note),
                        ("timing", serde_json::json!({"audio_seconds": seconds, "decode_audio_s": audio_s, "vad_s": vad_s, "total_s": started.elapsed().as_secs_f64()})),
                    ];
                    return Ok(Outcome::Text { cues: Vec::new(), notes, speech: false });
                }

                let loading = Instant::now();
                let model = whisper::load(&installed.dir, &model_id, &device)?;
                let load_s = loading.elapsed().as_secs_f64();
                progress.set_length((to_decode * 10.0).ceil().max(1.0) as u64);
                let recognising = Instant::now();
                let mut cues: Vec<Cue> = Vec::new();
                let mut stats = Vec::new();
                let mut rejected = Vec::new();
                let mut done = 0u64;
                for (r, v) in decoded.ranges.iter().zip(&vads) {
                    // The audio Whisper reads: the speech spans joined end to end, or everything.
                    let (joined, map) = match v {
                        Some(v) => {
                            let mut joined = Vec::new();
                            let mut map = Vec::new();
                            for s in &v.spans {
                                map.push((joined.len(), s.start, s.len()));
                                joined.extend_from_slice(&r.samples[s.clone()]);
                            }
                            (joined, SpanMap(map))
                        }
                        None => (r.samples.clone(), SpanMap(vec![(0, 0, r.samples.len())])),
                    };
                    if joined.is_empty() {
                        continue;
                    }
                    let len_s = joined.len() as f64 / sr;
                    let base = done;
                    let (segments, mut s) = model.transcribe(&joined, |f| {
                        let now = base + (f * len_s * 10.0) as u64;
                        progress.inc(now.saturating_sub(done));
                        done = done.max(now);
                        stop.check()
                    })?;
                    done = base + (len_s * 10.0) as u64;
                    let at = |t: f64, end: bool| map.source((t.max(0.0) * sr).round() as usize, end) as f64 / sr;
                    for mut x in std::mem::take(&mut s.rejected) {
                        let (a, b) = (at(x.start, false), at(x.end, true));
                        x.vad_prob = v.as_ref().map(|v| vad::mean_prob(&v.probs, (a * sr) as usize..(b * sr) as usize));
                        x.start = r.range.start + a;
                        x.end = r.range.start + b;
                        rejected.push(x);
                    }
                    stats.push(s);
                    for seg in segments {
                        let start = (r.range.start + at(seg.start, false)).clamp(r.range.start, r.range.end);
                        let start = cues.last().map_or(start, |c: &Cue| start.max(c.start));
                        let end = (r.range.start + at(seg.end, true)).clamp(start, r.range.end);
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
                let mut notes = vec![
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
                    ("vad", vad_note),
                    ("decoding", serde_json::to_value(&stats).unwrap_or_default()),
                    (
                        "timing",
                        serde_json::json!({
                            "audio_seconds": seconds,
                            "decoded_seconds": to_decode,
                            "decode_audio_s": audio_s,
                            "vad_s": vad_s,
                            "load_model_s": load_s,
                            "recognise_s": recognise_s,
                            "total_s": total_s,
                            "rtf": if seconds > 0.0 { total_s / seconds } else { 0.0 },
                        }),
                    ),
                ];
                if !rejected.is_empty() {
                    notes.push(("rejected", serde_json::to_value(&rejected).unwrap_or_default()));
                }
                Ok(Outcome::Text { cues, notes, speech: true })
            })
            .await?;
        match outcome {
            Outcome::NoAudio => {
                ctx.note("no_audio", "the file has no audio stream: nothing to transcribe, the result is empty");
                Ok(Value::TimedText(Arc::new(TimedText::default())))
            }
            Outcome::Text { cues, notes, speech } => {
                for (k, v) in notes {
                    ctx.note(k, v);
                }
                if !speech {
                    ctx.note("no_speech", "voice activity detection found no speech: nothing was decoded, the transcript is empty");
                } else if cues.is_empty() {
                    ctx.note("no_speech", "no speech was recognised in the audio");
                }
                Ok(Value::TimedText(Arc::new(TimedText { cues })))
            }
        }
    }
}
