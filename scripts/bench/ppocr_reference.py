"""The reference runtime's speed on the frames of `scripts/goldens/ppocr.json`,
for `cargo bench --bench ocr` (which runs this when VPROG_REFERENCE_PYTHON
names a Python with `rapidocr==3.10.0`, `onnxruntime` and `opencv-python-headless`;
see scripts/goldens/ppocr.py for the install).

Prints one JSON line: frames/s of rapidocr end to end (use_cls false, the
same det and rec files) with onnxruntime on 1 thread and on all cores, each the
best of 3 passes over the frames, and the load time.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from rapidocr import RapidOCR

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def frames():
    golden = json.load(open(os.path.join(ROOT, "scripts/goldens/ppocr.json")))
    out = []
    for c in golden["cases"]:
        cmd = ["ffmpeg", "-v", "error", "-ss", str(c["t"]), "-i", os.path.join(ROOT, c["media"]), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        raw = subprocess.run(cmd, check=True, capture_output=True).stdout
        rgb = np.frombuffer(raw, np.uint8).reshape(c["height"], c["width"], 3)
        out.append(np.ascontiguousarray(rgb[:, :, ::-1]))
    return out


def main():
    imgs = frames()
    result = {"frames": len(imgs)}
    for label, threads in [("ort_1_thread", 1), ("ort_all_cores", -1)]:
        t = time.perf_counter()
        engine = RapidOCR(params={"Global.use_cls": False, "Global.log_level": "critical", "EngineConfig.onnxruntime.intra_op_num_threads": threads})
        engine(imgs[0])
        result[f"{label}_load_s"] = time.perf_counter() - t
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for img in imgs:
                engine(img)
            best = min(best, time.perf_counter() - t)
        result[f"{label}_frames_per_s"] = len(imgs) / best
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
