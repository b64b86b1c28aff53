//! Whisper inference on candle: model loading (cached per process), 30 s
//! windows, greedy decoding with timestamp tokens and Whisper's decoding rules,
//! segments from timestamp pairs.
//!
//! # Decoding
//!
//! The whole audio gets 30 s of silence appended and one log-mel spectrogram
//! ([`super::mel`]); windows of 3000 frames start at `seek` (initially 0).
//! Each window is encoded once and decoded greedily from the start-of-
//! transcript prompt (`<|startoftranscript|>`, plus `<|en|><|transcribe|>`
//! for multilingual models), at most 224 tokens, with Whisper's logit filters:
//!
//! - the config's `suppress_tokens` and the task/special tokens are never
//!   produced; `begin_suppress_tokens` (blank, end of text) not first;
//! - timestamp rules: no `<|notimestamps|>`; the first token is a timestamp of
//!   at most 1.00 s; timestamps come in pairs (after a lone timestamp only a
//!   timestamp or text follows, after a pair only text or end) and never
//!   decrease; when the total probability of the timestamps beats every text
//!   token, a timestamp is taken.
//!
//! Segments are the token runs between consecutive timestamp pairs. When the
//! window ends on a pair, the next window starts at the last timestamp;
//! otherwise (a lone final timestamp or none) the whole window was used and the
//! next starts after it.
//!
//! # Guards against hallucination
//!
//! - **No speech:** when the probability of `<|nocaptions|>` at the first
//!   position exceeds 0.6 and the window's mean token log-probability is below
//!   −1, the window is skipped as silence (Whisper's rule).
//! - **Repetition:** when the text tokens end in 3 or more copies of the same
//!   run of tokens, 15 tokens in all or more (Whisper's typical loop), the
//!   decoding stops, the copies after the first are dropped and the next
//!   window starts at the last timestamp kept.
//!
//! - **Rejection** (the quality checks of Whisper's `transcribe.py`): a window
//!   whose text compresses too well (zlib compression ratio of its text above
//!   2.4: repeated phrases) or whose mean token log-probability is below −1
//!   gives no segments. Whisper would retry it at higher temperatures; here
//!   decoding stays deterministic, so it is dropped. Every skipped or rejected
//!   window is recorded in [`Stats::rejected`] with its scores.
//!
//! There is no temperature fallback and no conditioning on the previous
//! window's text: decoding is deterministic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::whisper::{self as m, Config};
use tokenizers::Tokenizer;
use vprog_runtime::ModuleError;

use super::mel::{LogMel, HOP, N_MELS, SAMPLE_RATE};

/// Mel frames per window (30 s).
pub const N_FRAMES: usize = 3000;
/// Seconds per timestamp token step.
pub const TIME_PRECISION: f64 = 0.02;
/// Tokens decoded per window at most.
pub const SAMPLE_LEN: usize = 224;
/// Latest first timestamp (Whisper's `max_initial_timestamp`), in seconds.
const MAX_INITIAL_TIMESTAMP: f64 = 1.0;
/// Whisper's no-speech threshold.
pub const NO_SPEECH_THRESHOLD: f64 = 0.6;
/// Whisper's mean log-probability threshold: below it a window is rejected
/// (and, with a no-speech probability over [`NO_SPEECH_THRESHOLD`], skipped
/// as silence).
pub const LOGPROB_THRESHOLD: f64 = -1.0;
/// Whisper's compression ratio threshold: a window whose text's zlib
/// compression ratio is above it (repetitive text) is rejected.
pub const COMPRESSION_RATIO_THRESHOLD: f64 = 2.4;

/// A loaded model: weights, tokenizer, special tokens, filters.
pub struct WhisperModel {
    model: m::model::Whisper,
    tokenizer: Tokenizer,
    device: Device,
    mel: LogMel,
    sot: Vec<u32>,
    eot: u32,
    no_speech: Option<u32>,
    no_timestamps: u32,
    timestamp_begin: u32,
    vocab: usize,
    /// Tokens never produced.
    suppress: Vec<u32>,
    /// Tokens not produced first.
    begin_suppress: Vec<u32>,
}

/// One recognised segment, times relative to the start of the audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Text, trimmed.
    pub text: String,
    /// Mean log-probability of the segment's text tokens.
    pub avg_logprob: f64,
}

/// What a transcription did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Windows decoded.
    pub windows: usize,
    /// Tokens decoded.
    pub tokens: usize,
    /// Windows skipped as silence.
    pub no_speech_windows: usize,
    /// Windows cut by the repetition guard.
    pub repetition_cuts: usize,
    /// Windows skipped as silence or rejected, with their scores.
    pub rejected: Vec<Rejected>,
}

/// A window that gave no segments: skipped as silence or rejected by a
/// quality check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejected {
    /// Start of the window, seconds from the first sample.
    pub start: f64,
    /// End of the window's content, seconds.
    pub end: f64,
    /// `no_speech` (no-speech probability over 0.6 and mean log-probability
    /// under −1), `compression_ratio` (over 2.4) or `avg_logprob` (under −1).
    pub reason: &'static str,
    /// The text decoded for the window (dropped).
    pub text: String,
    /// Probability of `<|nocaptions|>` at the first position.
    pub no_speech_prob: f64,
    /// Mean log-probability of the window's tokens.
    pub avg_logprob: f64,
    /// zlib compression ratio of the window's text ([`compression_ratio`]).
    pub compression_ratio: f64,
    /// Mean voice activity probability over the window, when a voice
    /// activity detector ran (filled in by the caller).
    pub vad_prob: Option<f64>,
}

/// The compression ratio Whisper uses to spot repetitive text: the text's
/// UTF-8 length over the length of its zlib stream (default level, as
/// Python's `zlib.compress`; zlib-rs's stream can be a byte or two longer or
/// shorter than CPython's zlib's). Empty text gives 0.
pub fn compression_ratio(text: &str) -> f64 {
    use std::io::Write;
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let compressed = enc.write_all(bytes).and_then(|()| enc.finish()).map(|v| v.len()).unwrap_or(0);
    if compressed == 0 {
        return 0.0;
    }
    bytes.len() as f64 / compressed as f64
}

fn failed(e: candle_core::Error) -> ModuleError {
    ModuleError::Failed(format!("whisper inference failed: {e}"))
}

/// The model in `dir` (`model.safetensors`, `config.json`,
/// `tokenizer.json`), loaded once per process and device.
///
/// # Errors
///
/// [`ModuleError::BadModel`] naming the file when a file is unreadable or not
/// what it should be.
pub fn load(dir: &Path, model_id: &str, device: &Device) -> Result<Arc<WhisperModel>, ModuleError> {
    type Cache = Mutex<HashMap<(PathBuf, String), Arc<WhisperModel>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (dir.to_path_buf(), format!("{device:?}"));
    let cache = CACHE.get_or_init(Default::default);
    if let Some(m) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(m.clone());
    }
    let loaded = Arc::new(load_uncached(dir, model_id, device)?);
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(key, loaded.clone());
    Ok(loaded)
}

fn load_uncached(dir: &Path, model_id: &str, device: &Device) -> Result<WhisperModel, ModuleError> {
    let bad = |path: &Path, reason: String| ModuleError::BadModel { model: model_id.into(), path: path.to_path_buf(), reason };
    let cfg_path = dir.join("config.json");
    let cfg_text = std::fs::read_to_string(&cfg_path).map_err(|e| bad(&cfg_path, format!("cannot read it: {e}")))?;
    let config: Config = serde_json::from_str(&cfg_text).map_err(|e| bad(&cfg_path, format!("not a Whisper config: {e}")))?;
    let extra: serde_json::Value = serde_json::from_str(&cfg_text).map_err(|e| bad(&cfg_path, format!("not JSON: {e}")))?;
    let begin_suppress: Vec<u32> =
        extra.get("begin_suppress_tokens").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
    let weights_path = dir.join("model.safetensors");
    let weights = std::fs::read(&weights_path).map_err(|e| bad(&weights_path, format!("cannot read it: {e}")))?;
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, device).map_err(|e| bad(&weights_path, e.to_string()))?;
    let model = m::model::Whisper::load(&vb, config.clone()).map_err(|e| bad(&weights_path, format!("does not fit the config: {e}")))?;
    let tok_path = dir.join("tokenizer.json");
    let tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| bad(&tok_path, format!("not a tokenizer: {e}")))?;
    let id = |t: &str| tokenizer.token_to_id(t).ok_or_else(|| bad(&tok_path, format!("has no token {t}")));
    let sot = id(m::SOT_TOKEN)?;
    let eot = id(m::EOT_TOKEN)?;
    let no_timestamps = id(m::NO_TIMESTAMPS_TOKEN)?;
    let transcribe = id(m::TRANSCRIBE_TOKEN)?;
    let translate = id(m::TRANSLATE_TOKEN)?;
    let no_speech = m::NO_SPEECH_TOKENS.iter().find_map(|t| tokenizer.token_to_id(t));
    let timestamp_begin = no_timestamps + 1;
    if timestamp_begin as usize + 1500 >= config.vocab_size {
        return Err(bad(&cfg_path, format!("vocabulary of {} leaves no room for the timestamp tokens", config.vocab_size)));
    }
    // Multilingual models (51865+ tokens) take a language and a task.
    let multilingual = config.vocab_size >= 51865;
    let sot_seq = if multilingual { vec![sot, id("<|en|>")?, transcribe] } else { vec![sot] };
    let mut suppress: Vec<u32> = config.suppress_tokens.iter().copied().filter(|&t| (t as usize) < config.vocab_size).collect();
    suppress.extend([transcribe, translate, sot, no_timestamps]);
    suppress.extend(["<|startofprev|>", "<|startoflm|>"].iter().filter_map(|t| tokenizer.token_to_id(t)));
    suppress.extend(no_speech);
    Ok(WhisperModel {
        vocab: config.vocab_size,
        model,
        tokenizer,
        device: device.clone(),
        mel: LogMel::new(),
        sot: sot_seq,
        eot,
        no_speech,
        no_timestamps,
        timestamp_begin,
        suppress,
        begin_suppress,
    })
}

/// What decoding one window gave.
struct Decoded {
    /// Tokens after the prompt, end of text excluded.
    tokens: Vec<u32>,
    /// Log-probability of each token.
    logprobs: Vec<f64>,
    no_speech_prob: f64,
    /// The repetition guard stopped it.
    cut: bool,
}

impl WhisperModel {
    /// Transcribes 16 kHz mono `samples`; `progress(fraction)` after each
    /// window (an error from it, such as a stop check, ends the call).
    /// Segment times are seconds from the first sample, within the
    /// audio.
    ///
    /// # Errors
    ///
    /// [`ModuleError::Failed`] when inference fails.
    pub fn transcribe(
        &self,
        samples: &[f32],
        mut progress: impl FnMut(f64) -> Result<(), ModuleError>,
    ) -> Result<(Vec<Segment>, Stats), ModuleError> {
        let mut stats = Stats::default();
        let content_frames = samples.len() / HOP;
        let duration = samples.len() as f64 / SAMPLE_RATE as f64;
        if content_frames == 0 {
            return Ok((Vec::new(), stats));
        }
        let mut padded = Vec::with_capacity(samples.len() + N_FRAMES * HOP);
        padded.extend_from_slice(samples);
        padded.resize(samples.len() + N_FRAMES * HOP, 0.0);
        let (mel, total_frames) = self.mel.log_mel(&padded);
        let mut model = self.model.clone();
        let mut segments = Vec::new();
        let mut seek = 0usize;
        let mut window = vec![0f32; N_MELS * N_FRAMES];
        while seek < content_frames {
            let segment_size = N_FRAMES.min(content_frames - seek);
            let offset = seek as f64 * HOP as f64 / SAMPLE_RATE as f64;
            for mb in 0..N_MELS {
                let src = mb * total_frames + seek;
                let n = N_FRAMES.min(total_frames - seek);
                window[mb * N_FRAMES..mb * N_FRAMES + n].copy_from_slice(&mel[src..src + n]);
                window[mb * N_FRAMES + n..(mb + 1) * N_FRAMES].fill(0.0);
            }
            let input = Tensor::from_slice(&window, (1, N_MELS, N_FRAMES), &self.device).map_err(failed)?;
            let features = model.encoder.forward(&input, true).map_err(failed)?;
            let d = self.decode(&mut model, &features, segment_size)?;
            stats.windows += 1;
            stats.tokens += d.tokens.len();
            let avg = if d.logprobs.is_empty() { 0.0 } else { d.logprobs.iter().sum::<f64>() / d.logprobs.len() as f64 };
            let text_ids: Vec<u32> = d.tokens.iter().copied().filter(|&t| t < self.eot).collect();
            let text = self.tokenizer.decode(&text_ids, true).unwrap_or_default();
            let ratio = compression_ratio(&text);
            let reason = if d.no_speech_prob > NO_SPEECH_THRESHOLD && avg < LOGPROB_THRESHOLD {
                Some("no_speech")
            } else if ratio > COMPRESSION_RATIO_THRESHOLD {
                Some("compression_ratio")
            } else if avg < LOGPROB_THRESHOLD {
                Some("avg_logprob")
            } else {
                None
            };
            if let Some(reason) = reason {
                if reason == "no_speech" {
                    stats.no_speech_windows += 1;
                }
                stats.rejected.push(Rejected {
                    start: offset,
                    end: (seek + segment_size) as f64 * HOP as f64 / SAMPLE_RATE as f64,
                    reason,
                    text: text.trim().to_string(),
                    no_speech_prob: d.no_speech_prob,
                    avg_logprob: avg,
                    compression_ratio: ratio,
                    vad_prob: None,
                });
                seek += segment_size;
                progress((seek as f64 / content_frames as f64).min(1.0))?;
                continue;
            }
            if d.cut {
                stats.repetition_cuts += 1;
            }
            let advance = self.segments(&d, offset, segment_size, &mut segments);
            seek += advance.max(1);
            progress((seek as f64 / content_frames as f64).min(1.0))?;
        }
        for s in &mut segments {
            s.start = s.start.clamp(0.0, duration);
            s.end = s.end.clamp(s.start, duration);
        }
        Ok((segments, stats))
    }

    fn is_ts(&self, t: u32) -> bool {
        t >= self.timestamp_begin
    }

    /// Cuts `d` into segments (appended to `out`, offset by `offset` seconds)
    /// and returns how many mel frames to advance.
    fn segments(&self, d: &Decoded, offset: f64, segment_size: usize, out: &mut Vec<Segment>) -> usize {
        let toks = &d.tokens;
        let pos = |t: u32| f64::from(t - self.timestamp_begin) * TIME_PRECISION;
        let mut push = |range: std::ops::Range<usize>, start: f64, end: f64| {
            let text_idx: Vec<usize> = range.filter(|&i| toks[i] < self.eot).collect();
            let ids: Vec<u32> = text_idx.iter().map(|&i| toks[i]).collect();
            let text = self.tokenizer.decode(&ids, true).unwrap_or_default().trim().to_string();
            if text.is_empty() {
                return;
            }
            let avg_logprob = text_idx.iter().map(|&i| d.logprobs[i]).sum::<f64>() / text_idx.len().max(1) as f64;
            out.push(Segment { start: offset + start, end: offset + end, text, avg_logprob });
        };
        let n = toks.len();
        let single_ending = n >= 2 && !self.is_ts(toks[n - 2]) && self.is_ts(toks[n - 1]);
        let mut slices: Vec<usize> = (1..n).filter(|&i| self.is_ts(toks[i]) && self.is_ts(toks[i - 1])).collect();
        if !slices.is_empty() {
            if single_ending {
                slices.push(n);
            }
            let mut last = 0;
            for &cur in &slices {
                let s = &toks[last..cur];
                if let (Some(&a), Some(&b)) = (s.first(), s.last()) {
                    if self.is_ts(a) && self.is_ts(b) {
                        push(last..cur, pos(a), pos(b));
                    }
                }
                last = cur;
            }
            if single_ending && !d.cut {
                segment_size
            } else {
                // Start the next window at the last timestamp of a pair.
                let frames = (toks[last - 1] - self.timestamp_begin) as usize * 2;
                if frames == 0 {
                    segment_size
                } else {
                    frames.min(segment_size)
                }
            }
        } else {
            let window_len = segment_size as f64 * HOP as f64 / SAMPLE_RATE as f64;
            let mut end = window_len;
            if let Some(&last_ts) = toks.iter().rev().find(|&&t| self.is_ts(t)) {
                if last_ts != self.timestamp_begin {
                    end = pos(last_ts);
                }
            }
            let start = toks.first().filter(|&&t| self.is_ts(t)).map_or(0.0, |&t| pos(t));
            push(0..n, start, end.max(start));
            segment_size
        }
    }

    /// Greedy decoding of one window.
    fn decode(&self, model: &mut m::model::Whisper, features: &Tensor, segment_size: usize) -> Result<Decoded, ModuleError> {
        let mut tokens = self.sot.clone();
        let begin = tokens.len();
        let mut logprobs = Vec::new();
        let mut no_speech_prob = 0.0;
        let mut cut = false;
        let max_initial = self.timestamp_begin + (MAX_INITIAL_TIMESTAMP / TIME_PRECISION).round() as u32;
        // Timestamps past the window's content are useless: the last allowed one is its end.
        let last_ts = self.timestamp_begin + (segment_size as f64 * HOP as f64 / SAMPLE_RATE as f64 / TIME_PRECISION).ceil() as u32;
        let last_ts = last_ts.min(self.vocab as u32 - 1);
        for i in 0..SAMPLE_LEN {
            let input = Tensor::new(tokens.as_slice(), &self.device).and_then(|t| t.unsqueeze(0)).map_err(failed)?;
            let ys = model.decoder.forward(&input, features, i == 0).map_err(failed)?;
            let seq = tokens.len();
            if i == 0 {
                if let Some(ns) = self.no_speech {
                    let first = self.logits_at(model, &ys, begin - 1)?;
                    no_speech_prob = log_softmax(&first).get(ns as usize).map_or(0.0, |l| l.exp());
                }
            }
            let mut logits = self.logits_at(model, &ys, seq - 1)?;
            self.apply_rules(&mut logits, &tokens[begin..], max_initial, last_ts);
            let lp = log_softmax(&logits);
            let next = argmax(&logits);
            if next == self.eot as usize || !logits[next].is_finite() {
                break;
            }
            tokens.push(next as u32);
            logprobs.push(lp[next]);
            if let Some(keep) = self.repetition_cut(&tokens[begin..]) {
                tokens.truncate(begin + keep);
                logprobs.truncate(keep);
                cut = true;
                break;
            }
        }
        let mut tokens = tokens.split_off(begin);
        if cut {
            // Drop the text after the last timestamp so the window resumes there.
            while tokens.last().is_some_and(|&t| !self.is_ts(t)) {
                tokens.pop();
                logprobs.pop();
            }
            // A lone final timestamp closes the segment before it: make it a pair.
            let n = tokens.len();
            if n >= 2 && !self.is_ts(tokens[n - 2]) {
                tokens.push(tokens[n - 1]);
                logprobs.push(0.0);
            }
        }
        Ok(Decoded { tokens, logprobs, no_speech_prob, cut })
    }

    /// Logits (as `f32`) of the token after position `at`.
    fn logits_at(&self, model: &m::model::Whisper, ys: &Tensor, at: usize) -> Result<Vec<f32>, ModuleError> {
        let h = ys.narrow(1, at, 1).map_err(failed)?;
        model.decoder.final_linear(&h).and_then(|l| l.flatten_all()).and_then(|l| l.to_vec1::<f32>()).map_err(failed)
    }

    /// Whisper's logit filters: suppressed tokens and the timestamp rules.
    fn apply_rules(&self, logits: &mut [f32], seq: &[u32], max_initial: u32, last_ts: u32) {
        let ninf = f32::NEG_INFINITY;
        let tb = self.timestamp_begin as usize;
        let eot = self.eot as usize;
        for &t in &self.suppress {
            if let Some(l) = logits.get_mut(t as usize) {
                *l = ninf;
            }
        }
        if seq.is_empty() {
            for &t in &self.begin_suppress {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = ninf;
                }
            }
        }
        if let Some(l) = logits.get_mut(self.no_timestamps as usize) {
            *l = ninf;
        }
        for l in logits.iter_mut().skip(last_ts as usize + 1) {
            *l = ninf;
        }
        let last_was_ts = seq.last().is_some_and(|&t| self.is_ts(t));
        let penultimate_was_ts = seq.len() < 2 || self.is_ts(seq[seq.len() - 2]);
        if last_was_ts {
            if penultimate_was_ts {
                logits[tb..].fill(ninf);
            } else {
                logits[..eot].fill(ninf);
            }
        }
        if let Some(&last) = seq.iter().rev().find(|&&t| self.is_ts(t)) {
            let floor = if last_was_ts && !penultimate_was_ts { last } else { last + 1 };
            let floor = (floor as usize).min(logits.len());
            logits[tb..floor].fill(ninf);
        }
        if seq.is_empty() {
            logits[..tb].fill(ninf);
            for l in logits.iter_mut().skip(max_initial as usize + 1) {
                *l = ninf;
            }
        }
        let lp = log_softmax(logits);
        let ts_mass = log_sum_exp(&lp[tb..]);
        let max_text = lp[..tb].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if ts_mass > max_text {
            logits[..tb].fill(ninf);
        }
    }

    /// When the text tokens of `seq` end in 3+ copies of one run (15+ tokens
    /// in all), the length of `seq` to keep: up to the end of the first copy.
    fn repetition_cut(&self, seq: &[u32]) -> Option<usize> {
        let text: Vec<(usize, u32)> = seq.iter().enumerate().filter(|(_, &t)| t < self.eot).map(|(i, &t)| (i, t)).collect();
        let n = text.len();
        for len in 1..=n / 3 {
            let copies =
                (1..).take_while(|&c| (c + 1) * len <= n && (0..len).all(|j| text[n - 1 - j].1 == text[n - 1 - j - c * len].1)).count() + 1;
            if copies >= 3 && copies * len >= 15 {
                // Keep everything before the second copy.
                let second = n - (copies - 1) * len;
                return Some(text[second].0);
            }
        }
        None
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

fn log_softmax(v: &[f32]) -> Vec<f64> {
    let w: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
    let z = log_sum_exp(&w);
    w.iter().map(|x| x - z).collect()
}
