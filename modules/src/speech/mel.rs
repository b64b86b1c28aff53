//! Whisper's log-mel spectrogram, computed here (no tables shipped with the
//! model): 16 kHz audio, an STFT with a 400-sample periodic Hann window and a
//! hop of 160 samples (`center=True`, reflect padding, the last frame dropped,
//! as `torch.stft` in Whisper), the power spectrum through 80 mel filters with
//! Slaney's mel scale and Slaney area normalisation (librosa's
//! `filters.mel(sr=16000, n_fft=400, n_mels=80)`), then
//! `log10(max(x, 1e-10))`, floored at 8 below the maximum and mapped by
//! `(x + 4) / 4`.

use std::f64::consts::PI;

/// Sample rate the model takes.
pub const SAMPLE_RATE: usize = 16_000;
/// FFT length (25 ms).
pub const N_FFT: usize = 400;
/// Hop between frames (10 ms).
pub const HOP: usize = 160;
/// Mel bins.
pub const N_MELS: usize = 80;
/// Frequency bins of the one-sided spectrum.
pub const N_FREQS: usize = N_FFT / 2 + 1;

/// Hz to mel on Slaney's scale (linear below 1 kHz, logarithmic above), as
/// `librosa.hz_to_mel(htk=False)`.
pub fn hz_to_mel(hz: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

/// Mel to Hz on Slaney's scale (the inverse of [`hz_to_mel`]).
pub fn mel_to_hz(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// The mel filterbank, `n_mels × (n_fft/2 + 1)` row-major: triangles between
/// `n_mels + 2` points evenly spaced in mel from 0 to `sr / 2`, each scaled by
/// `2 / (f[i+2] − f[i])` (Slaney area normalisation), as librosa computes it.
pub fn mel_filters(sr: usize, n_fft: usize, n_mels: usize) -> Vec<f64> {
    let n_freqs = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_freqs).map(|k| k as f64 * (sr as f64 / 2.0) / (n_freqs - 1).max(1) as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr as f64 / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64)).collect();
    let mut w = vec![0.0; n_mels * n_freqs];
    for i in 0..n_mels {
        let (d0, d1) = (mel_f[i + 1] - mel_f[i], mel_f[i + 2] - mel_f[i + 1]);
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - mel_f[i]) / d0;
            let upper = (mel_f[i + 2] - f) / d1;
            w[i * n_freqs + k] = lower.min(upper).max(0.0) * enorm;
        }
    }
    w
}

/// A complex number (the FFT's element).
#[derive(Debug, Clone, Copy, Default)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    fn mul(self, o: C) -> C {
        C { re: self.re * o.re - self.im * o.im, im: self.re * o.im + self.im * o.re }
    }
    fn add(self, o: C) -> C {
        C { re: self.re + o.re, im: self.im + o.im }
    }
}

/// A mixed-radix (decimation in time) FFT plan for one length.
struct Fft {
    n: usize,
    factors: Vec<usize>,
    /// `exp(-2πi j / n)` for `j < n`.
    twiddles: Vec<C>,
}

impl Fft {
    fn new(n: usize) -> Fft {
        let mut factors = Vec::new();
        let mut m = n;
        for p in [4, 2, 3, 5] {
            while m % p == 0 {
                factors.push(p);
                m /= p;
            }
        }
        let mut p = 7;
        while m > 1 {
            while m % p == 0 {
                factors.push(p);
                m /= p;
            }
            p += 2;
        }
        let twiddles =
            (0..n).map(|j| C { re: (-2.0 * PI * j as f64 / n as f64).cos(), im: (-2.0 * PI * j as f64 / n as f64).sin() }).collect();
        Fft { n, factors, twiddles }
    }

    /// `out = DFT(x)`; `x` and `out` have the plan's length.
    fn run(&self, x: &[C], out: &mut [C], scratch: &mut Vec<C>) {
        self.rec(x, 0, 1, out, 0, scratch);
    }

    /// DFT of the `len = n / stride` elements `x[off + j·stride]` into `out`.
    fn rec(&self, x: &[C], off: usize, stride: usize, out: &mut [C], depth: usize, scratch: &mut Vec<C>) {
        let len = out.len();
        if len == 1 {
            out[0] = x[off];
            return;
        }
        let p = self.factors[depth];
        let m = len / p;
        for q in 0..p {
            self.rec(x, off + q * stride, stride * p, &mut out[q * m..(q + 1) * m], depth + 1, scratch);
        }
        // X[k + m·s] = Σ_q W_len^{q(k + m·s)} Y_q[k], with W_len^j = twiddles[j · n/len].
        let step = self.n / len;
        scratch.clear();
        scratch.resize(len, C::default());
        let mut t = [C::default(); 8];
        let mut big = Vec::new();
        let t: &mut [C] = if p <= 8 {
            &mut t[..p]
        } else {
            big.resize(p, C::default());
            &mut big
        };
        for k in 0..m {
            for (q, tq) in t.iter_mut().enumerate() {
                *tq = out[q * m + k].mul(self.twiddles[(q * k * step) % self.n]);
            }
            for s in 0..p {
                let mut acc = C::default();
                for (q, tq) in t.iter().enumerate() {
                    acc = acc.add(tq.mul(self.twiddles[((q * s) % p) * (self.n / p)]));
                }
                scratch[k + m * s] = acc;
            }
        }
        out.copy_from_slice(scratch);
    }
}

/// The sample at `i` of `x` extended by reflection (`numpy.pad(mode="reflect")`).
fn reflect(x: &[f32], i: isize) -> f32 {
    let n = x.len() as isize;
    if n == 0 {
        return 0.0;
    }
    if n == 1 {
        return x[0];
    }
    let period = 2 * (n - 1);
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - j;
    }
    x[j as usize]
}

/// Log-mel spectrogram computer with its filterbank and FFT plan.
pub struct LogMel {
    fft: Fft,
    window: Vec<f64>,
    /// Per mel bin: first frequency bin and the nonzero weights from there.
    filters: Vec<(usize, Vec<f64>)>,
}

impl Default for LogMel {
    fn default() -> Self {
        LogMel::new()
    }
}

impl LogMel {
    /// Whisper's settings: 16 kHz, n_fft 400, hop 160, 80 mels.
    pub fn new() -> LogMel {
        let dense = mel_filters(SAMPLE_RATE, N_FFT, N_MELS);
        let filters = dense
            .chunks(N_FREQS)
            .map(|row| {
                let first = row.iter().position(|&v| v != 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&v| v != 0.0).map_or(first, |l| l + 1);
                (first, row[first..last.max(first)].to_vec())
            })
            .collect();
        // Periodic Hann (torch.hann_window / scipy get_window("hann")).
        let window = (0..N_FFT).map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / N_FFT as f64).cos()).collect();
        LogMel { fft: Fft::new(N_FFT), window, filters }
    }

    /// Mel power (before the log) of `samples`: `N_MELS × frames` row-major
    /// with `frames = len / HOP`.
    pub fn mel_power(&self, samples: &[f32]) -> (Vec<f64>, usize) {
        let frames = samples.len() / HOP;
        let mut mel = vec![0.0; N_MELS * frames];
        let mut buf = vec![C::default(); N_FFT];
        let mut spec = vec![C::default(); N_FFT];
        let mut scratch = Vec::with_capacity(N_FFT);
        let mut power = vec![0.0; N_FREQS];
        let half = (N_FFT / 2) as isize;
        for f in 0..frames {
            let start = (f * HOP) as isize - half;
            for (j, b) in buf.iter_mut().enumerate() {
                let i = start + j as isize;
                let v = if i >= 0 && (i as usize) < samples.len() { samples[i as usize] } else { reflect(samples, i) };
                *b = C { re: f64::from(v) * self.window[j], im: 0.0 };
            }
            self.fft.run(&buf, &mut spec, &mut scratch);
            for (p, s) in power.iter_mut().zip(&spec) {
                *p = s.re * s.re + s.im * s.im;
            }
            for (m, (first, w)) in self.filters.iter().enumerate() {
                mel[m * frames + f] = w.iter().zip(&power[*first..]).map(|(a, b)| a * b).sum();
            }
        }
        (mel, frames)
    }

    /// Whisper's normalised log-mel of `samples` (16 kHz mono): `N_MELS ×
    /// frames` row-major (`frames = len / HOP`), as `f32`.
    pub fn log_mel(&self, samples: &[f32]) -> (Vec<f32>, usize) {
        let (power, frames) = self.mel_power(samples);
        let logs: Vec<f64> = power.iter().map(|&p| p.max(1e-10).log10()).collect();
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let floor = max - 8.0;
        (logs.iter().map(|&l| ((l.max(floor) + 4.0) / 4.0) as f32).collect(), frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_matches_a_direct_dft() {
        for n in [1, 2, 8, 12, 25, 400] {
            let fft = Fft::new(n);
            let x: Vec<C> = (0..n).map(|i| C { re: ((i * 7 % 13) as f64).sin(), im: (i as f64 * 0.3).cos() }).collect();
            let mut out = vec![C::default(); n];
            fft.run(&x, &mut out, &mut Vec::new());
            for (k, o) in out.iter().enumerate() {
                let mut acc = C::default();
                for (j, xj) in x.iter().enumerate() {
                    let a = -2.0 * PI * (j * k) as f64 / n as f64;
                    acc = acc.add(xj.mul(C { re: a.cos(), im: a.sin() }));
                }
                assert!((acc.re - o.re).abs() < 1e-9 && (acc.im - o.im).abs() < 1e-9, "n={n} k={k}");
            }
        }
    }

    #[test]
    fn reflect_padding_mirrors_without_repeating_the_edge() {
        let x = [1.0, 2.0, 3.0];
        let got: Vec<f32> = (-3..6).map(|i| reflect(&x, i)).collect();
        assert_eq!(got, vec![2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0]);
    }

    #[test]
    fn mel_scale_round_trips() {
        for hz in [0.0, 500.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn short_and_empty_inputs_do_not_panic() {
        let m = LogMel::new();
        assert_eq!(m.log_mel(&[]).1, 0);
        assert_eq!(m.log_mel(&[0.5; 100]).1, 0);
        let (v, frames) = m.log_mel(&[0.25; 170]);
        assert_eq!((v.len(), frames), (N_MELS, 1));
        assert!(v.iter().all(|x| x.is_finite()));
    }
}
