#!/usr/bin/env python3
"""MiniLM (all-MiniLM-L6-v2) sentence-embedding throughput in PyTorch
sentence-transformers on the CPU: the reference for `cargo bench --bench embedding`.

    pip install sentence-transformers
    VPROG_MODELS=/path/to/models python3 scripts/bench_minilm_torch.py [--sentences FILE] [--threads 2] [--batch 32]

The model is built from the vprog model store's files (`vprog models fetch
all-minilm-l6-v2`) as the published pipeline is: Transformer (max_seq_length
256) -> mean Pooling -> Normalize; nothing is downloaded. Sentences come from
FILE (a JSON list of strings; the Rust bench passes its own so both sides
embed the same text), else the TED cues of media/ted/test.srt plus NExT-QA
questions from ../shared/data/nextqa/val.csv (searched upwards), 256 in all. Prints one JSON
line: {"sentences": N, "batch": B, "threads": T, "seconds": best, "sentences_per_s": ...}.
"""

import argparse
import csv
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
MODEL_ID = "all-minilm-l6-v2"


def nextqa_csv() -> Path:
    """shared/data/nextqa/val.csv beside the repository (or beside an ancestor
    of it, for a worktree)."""
    for base in ROOT.parents:
        p = base / "shared" / "data" / "nextqa" / "val.csv"
        if p.is_file():
            return p
    sys.exit("shared/data/nextqa/val.csv not found beside the repository")


def default_sentences(n: int = 256) -> list[str]:
    text = (ROOT / "media" / "ted" / "test.srt").read_text(encoding="utf-8-sig")
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [l.strip() for l in block.splitlines()]
        if len(lines) >= 3 and "-->" in lines[1]:
            out.append(" ".join(l for l in lines[2:] if l))
    with open(nextqa_csv(), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if len(out) >= n:
                break
            out.append(row["question"])
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", help="JSON list of sentences")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer, models

    torch.set_num_threads(args.threads)
    d = Path(os.environ.get("VPROG_MODELS") or Path.home() / ".cache" / "vprog" / "models") / MODEL_ID
    if not (d / "model.safetensors").is_file():
        sys.exit(f"{d} has no model.safetensors: run `vprog models fetch {MODEL_ID}` or set VPROG_MODELS")
    word = models.Transformer(str(d), max_seq_length=256)
    dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    model = SentenceTransformer(modules=[word, models.Pooling(dim(), pooling_mode="mean"), models.Normalize()], device="cpu")

    sentences = json.loads(Path(args.sentences).read_text(encoding="utf-8")) if args.sentences else default_sentences()
    encode = lambda: model.encode(sentences, batch_size=args.batch, convert_to_numpy=True, show_progress_bar=False)
    encode()  # warm-up
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        encode()
        best = min(best, time.perf_counter() - t)
    print(json.dumps({
        "sentences": len(sentences),
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "seconds": best,
        "sentences_per_s": len(sentences) / best,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
