"""Writes silero_vad.json: Silero VAD's speech probabilities and speech
segments on real audio, computed by the PyPI package `silero-vad` itself, the
reference for the candle port (`modules/src/speech/vad.rs`, tested by
`modules/tests/speech.rs::vad_matches_the_silero_package`).

    pip install numpy onnxruntime tinygrad safetensors packaging
    bash scripts/fetch-media.sh
    python3 scripts/goldens/silero_vad.py            # writes scripts/goldens/silero_vad.json (minutes)
    python3 scripts/goldens/silero_vad.py --synthetic-only   # only the synthetic cases

What it does:

1. Downloads the pinned wheel (`pip download --no-deps silero-vad==6.2.3`; the
   same wheel and SHA-256 as `models/src/catalog.rs`) and checks its SHA-256.
2. Cuts each clip below to 16 kHz mono signed 16-bit PCM with the ffmpeg CLI.
   The Rust test runs the same ffmpeg command and checks the PCM's SHA-256
   before comparing, so both sides read exactly the same samples.
3. Reference probabilities (`probs`): the package's own `tinygrad_model.py`
   (`TinySileroVAD`) loaded with the package's `silero_vad_16k.safetensors`
   (the file vprog installs), run over 512-sample windows with 64 samples of
   context carried over, the LSTM state carried across windows, the last window
   zero-padded: the loop in that file's docstring and in `get_speech_timestamps`.
4. For information (`onnx_probs`): the package's default ONNX model
   (`silero_vad.onnx`, what `load_silero_vad(onnx=True)` runs, driven as its
   `OnnxWrapper` does). In 6.2.3 the safetensors and the ONNX/JIT models hold
   different weights (another checkpoint of the same network), so these agree
   on the speech decision but not to float precision.
5. Segments (`segments`): the package's `get_speech_timestamps_from_probs` on
   `probs` with its defaults (threshold 0.5, neg threshold 0.35, min speech
   250 ms, min silence 100 ms, speech pad 30 ms), in samples. The package
   imports torch at the top of `utils_vad.py` but this function does not use
   it, so a stub `torch` module is installed to import it without PyTorch.
   `synthetic` holds a few hand-made probability sequences and the segments
   the same function gives for them.
"""

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types
import zipfile

import numpy as np

VERSION = "6.2.3"
WHEEL = f"silero_vad-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"
SR, WINDOW, CONTEXT = 16000, 512, 64

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MEDIA = os.environ.get("VPROG_MEDIA_DIR", os.path.join(REPO, "media"))

# (name, media file relative to the media dir, start s, duration s or None)
CLIPS = [
    ("ted", "ted/test.mp4", 0.0, None),  # the whole TED talk: speech, an intro with music
    ("bbb_125_150", "bbb.mp4", 125.0, 25.0),  # Big Buck Bunny: score, animal sounds near the threshold
]


def ffmpeg_args(media, start, duration):
    """The ffmpeg arguments (after `ffmpeg`) that write the clip's PCM to stdout."""
    args = ["-nostdin", "-v", "error", "-ss", f"{start}", "-i", media]
    if duration is not None:
        args += ["-t", f"{duration}"]
    return args + ["-vn", "-ac", "1", "-ar", str(SR), "-f", "s16le", "-"]


class _Anything:
    """Stands for any torch attribute: calling it with a function returns the function (decorators)."""

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return _Anything()

    def __getattr__(self, name):
        return _Anything()


def load_by_path(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fetch_package():
    """Downloads and unpacks the pinned wheel; returns the unpacked directory."""
    work = tempfile.mkdtemp(prefix="silero-golden-")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", f"silero-vad=={VERSION}", "-d", work],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wheel = os.path.join(work, WHEEL)
    digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"{WHEEL}: SHA-256 {digest}, pinned {WHEEL_SHA256}")
    pkg = os.path.join(work, "pkg")
    zipfile.ZipFile(wheel).extractall(pkg)
    return pkg


def load_utils(pkg):
    """The package's utils_vad.py, imported with a stub torch (its post-processing does not use torch)."""
    sys.modules["torch"] = types.ModuleType("torch")
    sys.modules["torch"].__getattr__ = lambda name: _Anything()
    return load_by_path("silero_utils_vad", os.path.join(pkg, "silero_vad", "utils_vad.py"))


def write(golden, out):
    with open(out, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


def full(pkg):
    data = os.path.join(pkg, "silero_vad", "data")
    weights = os.path.join(data, "silero_vad_16k.safetensors")

    # The package's own tinygrad network with the safetensors vprog installs.
    from tinygrad import Tensor
    from tinygrad.nn.state import load_state_dict, safe_load

    tg = load_by_path("silero_tinygrad_model", os.path.join(pkg, "silero_vad", "tinygrad_model.py"))
    model = tg.TinySileroVAD()
    load_state_dict(model, safe_load(weights))

    utils = load_utils(pkg)

    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    onnx = onnxruntime.InferenceSession(os.path.join(data, "silero_vad.onnx"), providers=["CPUExecutionProvider"], sess_options=opts)

    clips = []
    for name, rel, start, duration in CLIPS:
        args = ffmpeg_args(os.path.join(MEDIA, rel), start, duration)
        pcm = subprocess.run(["ffmpeg"] + args, check=True, stdout=subprocess.PIPE).stdout
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        n = len(audio)
        padded = np.zeros(((n + WINDOW - 1) // WINDOW) * WINDOW + CONTEXT, dtype=np.float32)
        padded[CONTEXT : CONTEXT + n] = audio
        probs, onnx_probs = [], []
        state = None
        onnx_state = np.zeros((2, 1, 128), dtype=np.float32)
        for i in range(CONTEXT, len(padded), WINDOW):
            x = padded[None, i - CONTEXT : i + WINDOW]
            out, state = model(Tensor(x), state)
            state = state.realize()
            probs.append(float(out.numpy()[0, 0]))
            o, onnx_state = onnx.run(None, {"input": x, "state": onnx_state, "sr": np.array(SR, dtype=np.int64)})
            onnx_probs.append(float(o[0, 0]))
        segments = utils.get_speech_timestamps_from_probs(probs, sampling_rate=SR, audio_length_samples=n)
        p, q = np.array(probs), np.array(onnx_probs)
        print(
            f"{name}: {n} samples, {len(probs)} windows, {len(segments)} segments; "
            f"safetensors vs ONNX: max |diff| {np.abs(p - q).max():.3f}, mean {np.abs(p - q).mean():.4f}, "
            f"same decision at 0.5 in {((p >= 0.5) == (q >= 0.5)).mean() * 100:.1f}% of windows"
        )
        clips.append(
            {
                "name": name,
                "media": rel,
                "ffmpeg_args": [("MEDIA" if a == args[6] else a) for a in args],
                "pcm_sha256": hashlib.sha256(pcm).hexdigest(),
                "samples": n,
                "probs": [round(v, 7) for v in probs],
                "onnx_probs": [round(v, 7) for v in onnx_probs],
                "segments": [[s["start"], s["end"]] for s in segments],
            }
        )

    return clips, weights, utils


def synthetic_cases(utils):
    """Hand-made probability sequences and the package's segments for them."""
    rng = np.random.default_rng(7)
    synthetic = []
    cases = [
        [0.1] * 10 + [0.9] * 20 + [0.1] * 10,  # one run of speech
        [0.9] * 12 + [0.4] * 3 + [0.9] * 12 + [0.2] * 2 + [0.9] * 10,  # dips that do not end it
        [0.9] * 12 + [0.1] * 5 + [0.9] * 12,  # a silence long enough to split
        [0.9] * 5 + [0.1] * 20,  # too short to keep
        [0.1] * 30,  # nothing
        [0.6] * 40,  # speech to the end
        [0.9] * 10 + [0.1] * 4 + [0.9] * 10,  # a gap shorter than twice the pad
        list(np.round(rng.random(300), 3)),  # noise
    ]
    for probs in cases:
        n = len(probs) * WINDOW - 100
        # float32 values, as the model gives them (`.item()` of a float32 tensor).
        probs = [float(np.float32(v)) for v in probs]
        segments = utils.get_speech_timestamps_from_probs(probs, sampling_rate=SR, audio_length_samples=n)
        synthetic.append({"probs": probs, "samples": n, "segments": [[s["start"], s["end"]] for s in segments]})
    return synthetic


def main():
    out = os.path.join(HERE, "silero_vad.json")
    if "--synthetic-only" in sys.argv:
        # Rewrites only the synthetic cases of the existing golden (no model, no media).
        pkg = fetch_package()
        golden = json.load(open(out))
        golden["synthetic"] = synthetic_cases(load_utils(pkg))
        write(golden, out)
        return

    pkg = fetch_package()
    clips, weights, utils = full(pkg)
    golden = {
        "package": "silero-vad",
        "version": VERSION,
        "wheel_sha256": WHEEL_SHA256,
        "weights": "silero_vad/data/silero_vad_16k.safetensors",
        "weights_sha256": hashlib.sha256(open(weights, "rb").read()).hexdigest(),
        "reference": "probs: the package's tinygrad_model.TinySileroVAD with silero_vad_16k.safetensors; "
        "onnx_probs: the package's silero_vad.onnx (another checkpoint); "
        "segments: utils_vad.get_speech_timestamps_from_probs with its defaults",
        "sample_rate": SR,
        "window": WINDOW,
        "context": CONTEXT,
        "clips": clips,
        "synthetic": synthetic_cases(utils),
    }
    write(golden, out)


if __name__ == "__main__":
    main()
