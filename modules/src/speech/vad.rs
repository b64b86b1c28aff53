//! Silero VAD (v6, 16 kHz) on candle: the speech probability of every 32 ms of
//! audio, and the post-processing that turns probabilities into speech
//! segments (silero's `get_speech_timestamps`).
//!
//! # Network
//!
//! The weights are the store's `silero-vad` (`vprog models fetch silero-vad`):
//! `silero_vad_16k.safetensors` from the PyPI package `silero-vad` 6.2.3
//! (MIT). The audio is read in windows of [`WINDOW`] samples; each window is
//! prefixed with the [`CONTEXT`] samples before it (zeros before the first)
//! and reflect-padded by 64 samples on the right (640 samples). Then:
//!
//! - an STFT as a convolution (`stft_conv`: 258 filters of 256 samples,
//!   stride 128, no bias: 129 real and 129 imaginary rows) and its magnitude:
//!   129 bins × 4 frames;
//! - four convolutions of kernel 3 and padding 1 with ReLU (`conv1`..`conv4`:
//!   129→128 stride 1, 128→64 stride 2, 64→64 stride 2, 64→128 stride 1):
//!   128 features × 1 frame;
//! - an LSTM cell (`lstm_cell`, 128 hidden units, PyTorch gate order i, f, g,
//!   o) whose state is carried from window to window;
//! - ReLU, a 1×1 convolution to one value (`final_conv`) and a sigmoid.
//!
//! Everything before the LSTM depends on the samples only, so it runs batched
//! over many windows at once; the LSTM steps run in order. The last window is
//! zero-padded, as silero's `get_speech_timestamps` does.
//!
//! Parity: `scripts/goldens/silero_vad.py` records the package's own model
//! (its `tinygrad_model.py` with the same safetensors) on real audio; the test
//! `vad_matches_the_silero_package` compares every window's probability.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Conv1d, Conv1dConfig, VarBuilder};
use vprog_runtime::ModuleError;

/// The sample rate the model reads.
pub const SAMPLE_RATE: usize = 16_000;
/// Samples per window (32 ms): one probability each.
pub const WINDOW: usize = 512;
/// Samples of the previous window prefixed to each window.
pub const CONTEXT: usize = 64;
/// Samples of reflection padding after each window.
const RIGHT_PAD: usize = 64;
/// FFT length and hop of the STFT convolution.
const N_FFT: usize = 256;
const HOP: usize = 128;
/// Frequency bins of the STFT.
const BINS: usize = N_FFT / 2 + 1;
/// LSTM hidden units.
const HIDDEN: usize = 128;
/// Windows encoded per batch.
const BATCH: usize = 1024;

/// The network, loaded from the safetensors' tensors.
pub struct SileroVad {
    stft: Tensor,
    convs: [Conv1d; 4],
    /// `weight_ih` (512 × 128) and the two LSTM biases summed (512).
    w_ih: Tensor,
    bias: Tensor,
    /// `weight_hh`, row-major 512 × 128.
    w_hh: Vec<f32>,
    out_w: Vec<f32>,
    out_b: f32,
    /// Indices of the 640 padded samples into the 576 of a window with context.
    pad_index: Tensor,
    device: Device,
}

/// What is carried from one window to the next: the LSTM's state and the
/// last [`CONTEXT`] samples.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Hidden state.
    pub h: Vec<f32>,
    /// Cell state.
    pub c: Vec<f32>,
}

impl Default for State {
    fn default() -> Self {
        State { h: vec![0.0; HIDDEN], c: vec![0.0; HIDDEN] }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl SileroVad {
    /// Loads the network from `vb` (tensor names as in
    /// `silero_vad_16k.safetensors`: `stft_conv.weight`, `conv1`..`conv4`,
    /// `lstm_cell.*`, `final_conv.*`).
    ///
    /// # Errors
    ///
    /// When a tensor is missing or has another shape.
    pub fn load(vb: VarBuilder) -> candle_core::Result<SileroVad> {
        let stft = vb.get((2 * BINS, 1, N_FFT), "stft_conv.weight")?;
        let conv = |name: &str, cin: usize, cout: usize, stride: usize| -> candle_core::Result<Conv1d> {
            let w = vb.get((cout, cin, 3), &format!("{name}.weight"))?;
            let b = vb.get(cout, &format!("{name}.bias"))?;
            Ok(Conv1d::new(w, Some(b), Conv1dConfig { padding: 1, stride, ..Default::default() }))
        };
        let convs = [conv("conv1", BINS, 128, 1)?, conv("conv2", 128, 64, 2)?, conv("conv3", 64, 64, 2)?, conv("conv4", 64, HIDDEN, 1)?];
        let w_ih = vb.get((4 * HIDDEN, HIDDEN), "lstm_cell.weight_ih")?;
        let w_hh = vb.get((4 * HIDDEN, HIDDEN), "lstm_cell.weight_hh")?.flatten_all()?.to_vec1::<f32>()?;
        let bias = (vb.get(4 * HIDDEN, "lstm_cell.bias_ih")? + vb.get(4 * HIDDEN, "lstm_cell.bias_hh")?)?;
        let out_w = vb.get((1, HIDDEN, 1), "final_conv.weight")?.flatten_all()?.to_vec1::<f32>()?;
        let out_b = vb.get(1, "final_conv.bias")?.to_vec1::<f32>()?[0];
        let n = CONTEXT + WINDOW;
        // Reflection without repeating the edge: n-2, n-3, ...
        let index: Vec<u32> = (0..n).chain((0..RIGHT_PAD).map(|j| n - 2 - j)).map(|i| i as u32).collect();
        let pad_index = Tensor::new(index.as_slice(), vb.device())?;
        Ok(SileroVad { stft, convs, w_ih, bias, w_hh, out_w, out_b, pad_index, device: vb.device().clone() })
    }

    /// The LSTM's input projection (`weight_ih · x + bias_ih + bias_hh`) of
    /// each window: `windows` is `(N, 576)`, [`CONTEXT`] + [`WINDOW`]
    /// samples each; the result is `(N, 512)`.
    ///
    /// # Errors
    ///
    /// When a tensor operation fails (a wrong shape).
    pub fn encode(&self, windows: &Tensor) -> candle_core::Result<Tensor> {
        let x = windows.index_select(&self.pad_index, 1)?.unsqueeze(1)?;
        let spec = x.conv1d(&self.stft, 0, HOP, 1, 1)?;
        let re = spec.narrow(1, 0, BINS)?;
        let im = spec.narrow(1, BINS, BINS)?;
        let mut x = (re.sqr()? + im.sqr()?)?.sqrt()?;
        for conv in &self.convs {
            x = conv.forward(&x)?.relu()?;
        }
        // (N, 128, 1) → (N, 128)
        let x = x.squeeze(D::Minus1)?;
        x.matmul(&self.w_ih.t()?)?.broadcast_add(&self.bias)
    }

    /// Speech probabilities of consecutive windows (`(N, 576)`, as for
    /// [`SileroVad::encode`]), carrying `state` across them and leaving it
    /// after the last.
    ///
    /// # Errors
    ///
    /// When a tensor operation fails.
    pub fn forward(&self, windows: &Tensor, state: &mut State) -> candle_core::Result<Vec<f32>> {
        let gates_x = self.encode(windows)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let mut probs = Vec::with_capacity(gates_x.len());
        let mut g = vec![0f32; 4 * HIDDEN];
        for gx in gates_x {
            for (r, gr) in g.iter_mut().enumerate() {
                let row = &self.w_hh[r * HIDDEN..(r + 1) * HIDDEN];
                *gr = gx[r] + row.iter().zip(&state.h).map(|(w, h)| w * h).sum::<f32>();
            }
            for k in 0..HIDDEN {
                let i = sigmoid(g[k]);
                let f = sigmoid(g[HIDDEN + k]);
                let c = g[2 * HIDDEN + k].tanh();
                let o = sigmoid(g[3 * HIDDEN + k]);
                state.c[k] = f * state.c[k] + i * c;
                state.h[k] = o * state.c[k].tanh();
            }
            let y = self.out_b + self.out_w.iter().zip(&state.h).map(|(w, h)| w * h.max(0.0)).sum::<f32>();
            probs.push(sigmoid(y));
        }
        Ok(probs)
    }

    /// The speech probability of every [`WINDOW`] samples of 16 kHz mono
    /// `samples` (the last window zero-padded), from a fresh state.
    ///
    /// # Errors
    ///
    /// When a tensor operation fails.
    pub fn speech_probs(&self, samples: &[f32]) -> candle_core::Result<Vec<f32>> {
        let n_windows = samples.len().div_ceil(WINDOW);
        let mut padded = vec![0f32; CONTEXT + n_windows * WINDOW];
        padded[CONTEXT..CONTEXT + samples.len()].copy_from_slice(samples);
        let mut state = State::default();
        let mut probs = Vec::with_capacity(n_windows);
        let width = CONTEXT + WINDOW;
        let mut buf = Vec::with_capacity(BATCH * width);
        for first in (0..n_windows).step_by(BATCH) {
            let count = BATCH.min(n_windows - first);
            buf.clear();
            for w in first..first + count {
                buf.extend_from_slice(&padded[w * WINDOW..w * WINDOW + width]);
            }
            let windows = Tensor::from_slice(&buf, (count, width), &self.device)?;
            probs.extend(self.forward(&windows, &mut state)?);
        }
        Ok(probs)
    }
}

/// The model in `dir` (`model.safetensors`), loaded once per process.
///
/// # Errors
///
/// [`ModuleError::BadModel`] naming the file when it is unreadable, not
/// safetensors, or does not hold Silero VAD's tensors.
pub fn load(dir: &Path, model_id: &str) -> Result<Arc<SileroVad>, ModuleError> {
    type Cache = Mutex<HashMap<PathBuf, Arc<SileroVad>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let path = dir.join("model.safetensors");
    let cache = CACHE.get_or_init(Default::default);
    if let Some(m) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&path) {
        return Ok(m.clone());
    }
    let loaded = Arc::new(load_file(&path, model_id)?);
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(path, loaded.clone());
    Ok(loaded)
}

/// The model in the safetensors file `path` (not cached).
///
/// # Errors
///
/// [`ModuleError::BadModel`] naming the file when it is unreadable, not
/// safetensors (truncated, corrupt), or does not hold Silero VAD's tensors.
pub fn load_file(path: &Path, model_id: &str) -> Result<SileroVad, ModuleError> {
    let bad = |reason: String| ModuleError::BadModel {
        model: model_id.into(),
        path: path.to_path_buf(),
        reason: format!("{reason}; reinstall it with `vprog models fetch {model_id} --force`"),
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let vb =
        VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    SileroVad::load(vb).map_err(|e| bad(format!("not Silero VAD's weights: {e}")))
}

/// Silero's post-processing parameters (`get_speech_timestamps`; no maximum
/// speech length).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct VadParams {
    /// A window at or above this probability is speech.
    pub threshold: f64,
    /// Inside speech, a window below this is silence.
    pub neg_threshold: f64,
    /// Speech shorter than this (ms) is dropped.
    pub min_speech_ms: u32,
    /// Silence shorter than this (ms) does not end speech.
    pub min_silence_ms: u32,
    /// Padding added on both sides of each segment (ms).
    pub speech_pad_ms: u32,
}

impl Default for VadParams {
    /// Silero's defaults: threshold 0.5, neg threshold 0.35, min speech 250
    /// ms, min silence 100 ms, pad 30 ms.
    fn default() -> Self {
        VadParams { threshold: 0.5, neg_threshold: 0.35, min_speech_ms: 250, min_silence_ms: 100, speech_pad_ms: 30 }
    }
}

/// Speech segments, as sample ranges of audio `n_samples` long, from the
/// per-window probabilities `probs` (one per [`WINDOW`] samples at 16 kHz), as
/// silero's `get_speech_timestamps` finds them: speech starts at a window at or
/// above the threshold, ends where it falls below the neg threshold for at
/// least the minimum silence, is dropped if not longer than the minimum
/// speech; then each segment is padded, and a gap shorter than twice the pad
/// is split evenly between its neighbours.
pub fn speech_segments(probs: &[f32], n_samples: usize, p: &VadParams) -> Vec<Range<usize>> {
    let ms = |v: u32| SAMPLE_RATE as f64 * f64::from(v) / 1000.0;
    let (min_speech, min_silence, pad) = (ms(p.min_speech_ms), ms(p.min_silence_ms), ms(p.speech_pad_ms));
    let mut speeches: Vec<(f64, f64)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut temp_end = 0usize;
    for (i, &prob) in probs.iter().enumerate() {
        let prob = f64::from(prob);
        let cur = i * WINDOW;
        if prob >= p.threshold && temp_end != 0 {
            temp_end = 0;
        }
        let Some(s) = start else {
            if prob >= p.threshold {
                start = Some(cur);
            }
            continue;
        };
        if prob < p.neg_threshold {
            if temp_end == 0 {
                temp_end = cur;
            }
            if ((cur - temp_end) as f64) < min_silence {
                continue;
            }
            if (temp_end - s) as f64 > min_speech {
                speeches.push((s as f64, temp_end as f64));
            }
            start = None;
            temp_end = 0;
        }
    }
    if let Some(s) = start {
        if n_samples.saturating_sub(s) as f64 > min_speech {
            speeches.push((s as f64, n_samples as f64));
        }
    }
    let len = n_samples as f64;
    let n = speeches.len();
    for i in 0..n {
        if i == 0 {
            speeches[0].0 = (speeches[0].0 - pad).max(0.0).trunc();
        }
        if i + 1 < n {
            let gap = speeches[i + 1].0 - speeches[i].1;
            if gap < 2.0 * pad {
                let half = (gap / 2.0).floor();
                speeches[i].1 += half;
                speeches[i + 1].0 = (speeches[i + 1].0 - half).max(0.0).trunc();
            } else {
                speeches[i].1 = (speeches[i].1 + pad).min(len).trunc();
                speeches[i + 1].0 = (speeches[i + 1].0 - pad).max(0.0).trunc();
            }
        } else {
            speeches[i].1 = (speeches[i].1 + pad).min(len).trunc();
        }
    }
    speeches.into_iter().map(|(s, e)| s as usize..e as usize).collect()
}

/// Sample ranges joined where the gap between them is under `max_gap`
/// samples, then widened by `pad` samples on each side (within
/// `0..n_samples`, joining any that come to overlap): the spans Whisper
/// decodes.
pub fn merge_segments(segments: &[Range<usize>], max_gap: usize, pad: usize, n_samples: usize) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for s in segments {
        let r = s.start.saturating_sub(pad)..(s.end + pad).min(n_samples);
        if r.start >= r.end {
            continue;
        }
        match out.last_mut() {
            Some(last) if r.start <= last.end + max_gap => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The mean of `probs` over the windows that overlap samples `range`
/// (0 when none do).
pub fn mean_prob(probs: &[f32], range: Range<usize>) -> f64 {
    let first = range.start / WINDOW;
    let last = range.end.div_ceil(WINDOW).min(probs.len());
    if first >= last {
        return 0.0;
    }
    probs[first..last].iter().map(|&p| f64::from(p)).sum::<f64>() / (last - first) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: VadParams = VadParams { threshold: 0.5, neg_threshold: 0.35, min_speech_ms: 250, min_silence_ms: 100, speech_pad_ms: 30 };

    fn probs(runs: &[(f32, usize)]) -> Vec<f32> {
        runs.iter().flat_map(|&(p, n)| std::iter::repeat_n(p, n)).collect()
    }

    #[test]
    fn one_run_of_speech_is_one_padded_segment() {
        let p = probs(&[(0.1, 10), (0.9, 20), (0.1, 10)]);
        // Speech from window 10 to the first silent window 30, padded by 480.
        assert_eq!(speech_segments(&p, p.len() * WINDOW, &P), vec![10 * 512 - 480..30 * 512 + 480]);
    }

    #[test]
    fn short_dips_and_short_speech() {
        // A dip between the thresholds never ends speech; one shorter than 100 ms neither.
        let p = probs(&[(0.9, 12), (0.4, 3), (0.9, 12), (0.2, 3), (0.9, 10), (0.1, 10)]);
        assert_eq!(speech_segments(&p, p.len() * WINDOW, &P), vec![0..40 * 512 + 480]);
        // 5 windows (160 ms) are under the 250 ms minimum.
        assert!(speech_segments(&probs(&[(0.1, 3), (0.9, 5), (0.1, 20)]), 28 * 512, &P).is_empty());
        assert!(speech_segments(&probs(&[(0.1, 30)]), 30 * 512, &P).is_empty());
        assert!(speech_segments(&[], 0, &P).is_empty());
    }

    #[test]
    fn long_silence_splits_and_speech_runs_to_the_end() {
        let p = probs(&[(0.9, 12), (0.1, 5), (0.9, 12)]);
        let n = p.len() * WINDOW - 100;
        // The gap 12*512..17*512 (2560 samples) is over twice the pad: each side gets 480.
        assert_eq!(speech_segments(&p, n, &P), vec![0..12 * 512 + 480, 17 * 512 - 480..n]);
    }

    #[test]
    fn merging_joins_close_segments_and_pads() {
        let segs = vec![1000..2000, 2500..3000, 10_000..11_000];
        assert_eq!(merge_segments(&segs, 600, 100, 10_500), vec![900..3100, 9900..10_500]);
        assert_eq!(merge_segments(&segs, 0, 0, 20_000), segs);
        assert!(merge_segments(&[], 10, 10, 100).is_empty());
    }

    #[test]
    fn mean_prob_covers_overlapping_windows() {
        let p = [0.0, 1.0, 0.5];
        assert_eq!(mean_prob(&p, 0..512), 0.0);
        assert_eq!(mean_prob(&p, 512..1537), 0.75);
        assert_eq!(mean_prob(&p, 5000..6000), 0.0);
    }
}
