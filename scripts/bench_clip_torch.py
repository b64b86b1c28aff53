#!/usr/bin/env python3
"""The PyTorch side of benches/embedding.rs's CLIP comparison: image-embedding
throughput of a Hugging Face CLIP checkpoint with `transformers` on the CPU.

Reads the frames, preprocesses them with the checkpoint's image processor
(PIL backend, as vprog reproduces it), tiles them to one batch, and times
`CLIPModel.get_image_features` on that batch: best of --repeat passes after
one warm-up. Prints one JSON line: images/s and the process's peak RSS.

    python scripts/bench_clip_torch.py --model DIR --frames a.png b.png --batch 16 --threads 2 --repeat 5
"""

import argparse
import json
import resource
import time

import torch
from PIL import Image
from transformers import CLIPImageProcessorPil, CLIPModel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--frames", nargs="+", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = CLIPModel.from_pretrained(args.model).eval()
    proc = CLIPImageProcessorPil.from_pretrained(args.model)
    pixels = proc(images=[Image.open(f).convert("RGB") for f in args.frames], return_tensors="pt")["pixel_values"]
    batch = pixels.repeat((args.batch + len(args.frames) - 1) // len(args.frames), 1, 1, 1)[: args.batch].contiguous()
    with torch.inference_mode():
        model.get_image_features(pixel_values=batch)
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            model.get_image_features(pixel_values=batch)
            best = min(best, time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"images_per_s": args.batch / best, "seconds": best, "peak_rss_mb": peak_mb, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
