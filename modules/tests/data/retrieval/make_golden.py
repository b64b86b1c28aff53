#!/usr/bin/env python3
"""Writes golden.json: all-MiniLM-L6-v2 embeddings from sentence-transformers,
the reference the Rust embedder (modules/src/retrieval/embed.rs) must match.

Usage (from the workspace root, after `vprog models fetch all-minilm-l6-v2`):

    pip install sentence-transformers
    VPROG_MODELS=/path/to/models python3 modules/tests/data/retrieval/make_golden.py

The model is built from the store's files exactly as the published
all-MiniLM-L6-v2 pipeline is: Transformer (max_seq_length 256) -> mean
Pooling -> Normalize. Nothing is downloaded (HF_HUB_OFFLINE=1).
"""

import json
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
MODEL_ID = "all-minilm-l6-v2"


def model_dir() -> Path:
    root = os.environ.get("VPROG_MODELS") or str(Path.home() / ".cache" / "vprog" / "models")
    d = Path(root) / MODEL_ID
    if not (d / "model.safetensors").is_file():
        sys.exit(f"{d} has no model.safetensors: run `vprog models fetch {MODEL_ID}` or set VPROG_MODELS")
    return d


def load_model(d: Path):
    from sentence_transformers import SentenceTransformer, models

    word = models.Transformer(str(d), max_seq_length=256)
    dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pool = models.Pooling(dim(), pooling_mode="mean")
    return SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu")


def ted_cues() -> list[str]:
    """The distinct cue texts of media/ted/test.srt, in order."""
    text = (ROOT / "media" / "ted" / "test.srt").read_text(encoding="utf-8-sig")
    cues = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [l.strip() for l in block.splitlines()]
        if len(lines) >= 3 and "-->" in lines[1]:
            cue = "\n".join(l for l in lines[2:] if l)
            if cue and cue not in cues:
                cues.append(cue)
    return cues


def sentences() -> list[str]:
    extra = [
        "what is luck",
        "someone who explains to students how to start a business",
        "Ünïcode, café — and emoji 🙂 too!",
        "",
        # More than 256 word pieces: checks truncation.
        " ".join(["Serendipity favours the prepared mind, and preparation is a habit."] * 30),
    ]
    return ted_cues() + extra


def main() -> None:
    import torch

    torch.set_num_threads(2)
    model = load_model(model_dir())
    texts = sentences()
    emb = model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
    out = {
        "model": MODEL_ID,
        "generator": "sentence-transformers " + __import__("sentence_transformers").__version__ + ", torch " + torch.__version__,
        "max_seq_length": model.max_seq_length,
        "items": [{"text": t, "embedding": [round(float(x), 6) for x in v]} for t, v in zip(texts, emb)],
    }
    path = HERE / "golden.json"
    path.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {len(texts)} embeddings of {emb.shape[1]} to {path}")


if __name__ == "__main__":
    main()
