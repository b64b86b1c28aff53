"""Writes ppocr.json: PP-OCRv6 small run by its reference runtime on real
frames, the golden outputs for vprog's tract port
(`modules/src/vision/ppocr/`, tested by `modules/tests/ppocr.rs`).

    python3 -m venv /tmp/ro && /tmp/ro/bin/pip install rapidocr==3.10.0 onnxruntime==1.23.2 opencv-python-headless numpy
    bash scripts/fetch-media.sh
    /tmp/ro/bin/python scripts/goldens/ppocr.py      # writes scripts/goldens/ppocr.json (about a minute)

What it does, for each frame in FRAMES:

1. Decodes the frame with the ffmpeg CLI to raw RGB24
   (`ffmpeg -v error -ss T -i MEDIA -frames:v 1 -f rawvideo -pix_fmt rgb24 -`).
   The Rust test runs the same command and checks the bytes' SHA-256 before
   comparing, so both sides read exactly the same pixels. The models take BGR.
2. Detection, tensor level: rapidocr's own `DetPreProcess` (shorter side to
   736, sides to multiples of 32, `(x/255 - 0.5)/0.5`) and onnxruntime on the
   installed `det.onnx`. Stored: the input size, the probability map's mean,
   the share of pixels above 0.3 and the values on a 16 x 16 grid of points.
3. Detection, boxes: rapidocr's `DBPostProcess` with its defaults (thresh
   0.3, box_thresh 0.5, unclip 1.6, dilation, fast score) and its sort.
4. Recognition, per golden box: rapidocr's `get_rotate_crop_image`, then its
   `resize_norm_img` at the single-line width (`int(48 * max(320/48, w/h))`),
   onnxruntime on `rec.onnx`, rapidocr's `CTCLabelDecode` with the ONNX
   metadata charset. Stored: the crop size, text, score, and the top class of
   each time step.
5. End to end: `RapidOCR` itself (use_cls false, text_score 0.5, PP-OCRv6
   small det and rec, the same files): boxes, texts, scores.

The model files are taken from the installed rapidocr wheel and their SHA-256
checked against `models/src/catalog.rs`'s pins.
"""

import hashlib
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import onnxruntime as ort
import rapidocr
from rapidocr import RapidOCR
from rapidocr.ch_ppocr_det.utils import DBPostProcess, DetPreProcess
from rapidocr.ch_ppocr_det.main import TextDetector
from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode
from rapidocr.utils.process_img import get_rotate_crop_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(os.path.dirname(rapidocr.__file__), "models")
DET = os.path.join(MODELS, "PP-OCRv6_det_small.onnx")
REC = os.path.join(MODELS, "PP-OCRv6_rec_small.onnx")
PINS = {
    DET: "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    REC: "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
}
# (media, time in seconds): titles, captions, credits, a screencast, and
# frames with no text at all.
FRAMES = [
    ("media/ted/test.mp4", 7.0),
    ("media/ted/test.mp4", 13.5),
    ("media/ted/test.mp4", 24.5),
    ("media/ted/test.mp4", 37.0),
    ("media/bbb.mp4", 22.0),
    ("media/bbb.mp4", 495.0),
    ("media/bbb.mp4", 536.0),
    ("media/bbb.mp4", 573.0),
    ("media/display-dual-monitors.webm", 5.0),
    ("media/display-dual-monitors.webm", 20.0),
    ("media/oa4_launch.webm", 4.0),
    ("media/bikes.mp4", 3.0),
]
GRID = 16


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def frame(media, t):
    cmd = ["ffmpeg", "-v", "error", "-ss", str(t), "-i", os.path.join(ROOT, media), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", os.path.join(ROOT, media)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split(",")
    w, h = int(probe[0]), int(probe[1])
    rgb = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    return rgb, hashlib.sha256(raw).hexdigest()


def reading_order(boxes):
    """The permutation `TextDetector.sorted_boxes` applies (it returns the
    boxes only; the scores need the same order)."""
    if len(boxes) == 0:
        return []
    y = boxes[:, 0, 1]
    y_order = np.argsort(y, kind="stable")
    line_ids = np.concatenate([[0], np.cumsum((np.diff(y[y_order]) >= 10).astype(np.int32))])
    x = boxes[y_order][:, 0, 0]
    perm = y_order[np.lexsort((x, line_ids))].tolist()
    assert np.array_equal(boxes[perm], TextDetector.sorted_boxes(boxes))
    return perm


def main():
    for path, pin in PINS.items():
        got = sha256(path)
        if got != pin:
            sys.exit(f"{path}: SHA-256 {got}, expected {pin} (another rapidocr version?)")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    det = ort.InferenceSession(DET, opts, providers=["CPUExecutionProvider"])
    rec = ort.InferenceSession(REC, opts, providers=["CPUExecutionProvider"])
    meta = rec.get_modelmeta().custom_metadata_map
    decoder = CTCLabelDecode(character=meta["character"].splitlines())
    post = DBPostProcess(thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6, score_mode="fast", use_dilation=True)
    engine = RapidOCR(params={"Global.use_cls": False, "Global.text_score": 0.5})
    cases = []
    for media, t in FRAMES:
        rgb, digest = frame(media, t)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        h, w = bgr.shape[:2]
        x = DetPreProcess(736, "min")(bgr)
        prob = det.run(None, {det.get_inputs()[0].name: x})[0]
        pm = prob[0, 0]
        ph, pw = pm.shape
        grid = [[int((i + 0.5) * ph / GRID), int((j + 0.5) * pw / GRID)] for i in range(GRID) for j in range(GRID)]
        boxes, scores = post(prob, (h, w))
        perm = reading_order(boxes)
        boxes, scores = [boxes[i] for i in perm], [scores[i] for i in perm]
        order = []
        lines = []
        for b in boxes:
            crop = get_rotate_crop_image(bgr, b.astype(np.float32).copy())
            ch, cw = crop.shape[:2]
            width = int(48 * max(320 / 48, cw / ch))
            ratio = cw / ch
            rw = width if int(np.ceil(48 * ratio)) > width else int(np.ceil(48 * ratio))
            img = cv2.resize(crop, (rw, 48)).astype("float32").transpose((2, 0, 1)) / 255
            img = (img - 0.5) / 0.5
            pad = np.zeros((3, 48, width), np.float32)
            pad[:, :, :rw] = img
            preds = rec.run(None, {rec.get_inputs()[0].name: pad[None]})[0]
            (text, score), = decoder(preds)[0]
            lines.append({"crop": [cw, ch], "width": width, "text": text, "score": float(score), "top": preds[0].argmax(axis=1).tolist()})
            order.append(b.tolist())
        out = engine(bgr)
        e2e = []
        if out.boxes is not None:
            for b, txt, sc in zip(out.boxes, out.txts, out.scores):
                e2e.append({"quad": np.asarray(b).tolist(), "text": txt, "score": float(sc)})
        cases.append(
            {
                "media": media,
                "t": t,
                "width": w,
                "height": h,
                "rgb_sha256": digest,
                "det_input": [int(x.shape[3]), int(x.shape[2])],
                "prob_mean": float(pm.mean()),
                "prob_text_share": float((pm > 0.3).mean()),
                "prob_grid": [[y, xx, float(pm[y, xx])] for y, xx in grid],
                "boxes": order,
                "box_scores": [float(s) for s in scores],
                "lines": lines,
                "end_to_end": e2e,
            }
        )
        print(f"{media} @ {t}: det {x.shape[3]}x{x.shape[2]}, {len(order)} boxes, e2e: {[l['text'] for l in e2e]}", file=sys.stderr)
    doc = {
        "generator": "scripts/goldens/ppocr.py",
        "rapidocr": rapidocr.__version__ if hasattr(rapidocr, "__version__") else "3.10.0",
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "cases": cases,
    }
    with open(os.path.join(ROOT, "scripts/goldens/ppocr.json"), "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
