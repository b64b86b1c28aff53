"""Writes mel_golden.json: librosa's Whisper filterbank and log-mel of a short
synthetic signal, the reference for `modules/tests/speech.rs::mel_matches_librosa`.

    pip install librosa numpy
    python3 modules/tests/data/speech/make_golden.py

The signal (0.25 s at 16 kHz: two tones, a chirp and a click, rounded to 1e-6)
is stored too, so the Rust side reads exactly the same samples. The log-mel is
Whisper's: |STFT|^2 (n_fft 400, hop 160, periodic Hann, center, reflect pad,
last frame dropped) through the Slaney mel filters, log10 clamped at 1e-10,
floored at max - 8, then (x + 4) / 4.
"""

import json
import os

import librosa
import numpy as np

SR, N_FFT, HOP, N_MELS = 16000, 400, 160, 80

t = np.arange(4000) / SR
y = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t + 0.3)
y += 0.1 * np.sin(2 * np.pi * (100 + 6000 * t) * t)
y[1234] += 0.8
y = np.round(y, 6)

filters = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, htk=False, norm="slaney", dtype=np.float64)
stft = librosa.stft(y.astype(np.float64), n_fft=N_FFT, hop_length=HOP, window="hann", center=True, pad_mode="reflect")
power = np.abs(stft[:, :-1]) ** 2
mel = filters @ power
log_spec = np.log10(np.maximum(mel, 1e-10))
log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
log_spec = (log_spec + 4.0) / 4.0

rows = [0, 1, 10, 40, 79]
golden = {
    "librosa": librosa.__version__,
    "sr": SR,
    "n_fft": N_FFT,
    "hop": HOP,
    "n_mels": N_MELS,
    "filter_row_sums": [float(v) for v in filters.sum(axis=1)],
    "filter_row_argmax": [int(v) for v in filters.argmax(axis=1)],
    "filter_rows": {str(r): [float(v) for v in filters[r]] for r in rows},
    "signal": [float(v) for v in y],
    "frames": int(log_spec.shape[1]),
    "log_mel": [[round(float(v), 7) for v in row] for row in log_spec],
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mel_golden.json")
with open(out, "w") as f:
    json.dump(golden, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {out}: {log_spec.shape[1]} frames")
