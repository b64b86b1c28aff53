#!/usr/bin/env python3
"""Tiny randomly initialised Hugging Face checkpoints and their reference outputs.

No CLIP, SigLIP or BLIP weights can be downloaded here, so vprog's candle
ports of those models are proven against PyTorch `transformers` instead: this
script builds each model's real architecture with a small, seeded config, runs
the reference on real frames of the project's media and on real texts, with
the full Hugging Face preprocessing, and writes what vprog's tests compare
against (modules/tests/hf_parity.rs):

    OUT/frames/*.png                  the real frames (lossless, so both sides read the same pixels)
    OUT/<model>/config.json, model.safetensors, tokenizer.json, preprocessor_config.json
                                      a checkpoint laid out as on the hub
    OUT/<model>/goldens.safetensors   the reference's inputs and outputs
    OUT/<model>/goldens.json          the texts, the versions and the seed

Usage (a virtual environment with scripts/parity/requirements.txt):

    python scripts/parity/make_goldens.py --media media --out modules/tests/data/hf
    python scripts/parity/make_goldens.py --base --out /tmp/clip-base   # a base-size random CLIP, for benchmarks
    python scripts/parity/make_goldens.py --base --only blip --out /tmp/blip-base   # the same for BLIP

CI never runs this: it uses the committed files and needs no torch.
"""

import argparse
import gzip
import json
import subprocess
from pathlib import Path

import numpy as np
import PIL
import safetensors.torch
import torch
import transformers
from PIL import Image
from transformers import (
    BertTokenizerFast,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipImageProcessorPil,
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPTokenizer,
)

SEED = 20261207

# Real frames of the project's media (scripts/fetch-media.sh): a 16:9 and a
# 4:3 frame, so that the shortest-edge resize and the centre crop both work.
FRAMES = [("bbb.mp4", 60.0, "bbb_60s.png"), ("vtest.avi", 20.0, "vtest_20s.png")]

# Real texts: frame queries and NExT-QA style questions, one with punctuation
# and case, one past CLIP's 77 tokens (truncation).
TEXTS = [
    "a big white rabbit standing under a tree",
    "people walking across a square",
    "What does the man do after he reaches the cameraman?",
    "a RED car, parked -- on the street's corner!",
    " ".join(["a crowd of people walking in a busy shopping street on a sunny afternoon"] * 8),
]


def frames(media: Path, out: Path) -> list[Path]:
    """Extract the frames with the ffmpeg command line (RGB PNG, no scaling)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for video, at, name in FRAMES:
        path = out / name
        if not path.exists():
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-ss", str(at), "-i", str(media / video), "-frames:v", "1", "-pix_fmt", "rgb24", str(path)],
                check=True,
            )
        paths.append(path)
    return paths


def clip_tokenizer(bpe_gz: Path) -> CLIPTokenizer:
    """The real CLIP tokenizer, built from the BPE merges open-clip-torch ships.

    The vocabulary is made the way OpenAI's CLIP makes it: the 256 byte
    characters, the same with `</w>`, one token per merge, then the two
    special tokens (49408 in all).
    """
    merges = gzip.open(bpe_gz, "rt", encoding="utf-8").read().split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=merges)


def tiny_clip_config(vocab_size: int) -> CLIPConfig:
    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=77, projection_dim=16, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=224, patch_size=32,
                  projection_dim=16)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)


def base_clip_config(vocab_size: int) -> CLIPConfig:
    """openai/clip-vit-base-patch32's architecture (random weights)."""
    text = dict(vocab_size=vocab_size, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    vision = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224, patch_size=32)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=512)


def randomise(model: torch.nn.Module, scale: float = 0.02) -> None:
    """Seeded normal weights everywhere, biases and norms included, with
    scales that keep activations in range. The default init leaves biases at
    zero and norm weights at one, which would not show that they are loaded."""
    g = torch.Generator().manual_seed(SEED)
    norms = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.LayerNorm)}
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g)
            if id(p) in norms:
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(noise * (scale if p.dim() > 1 else 0.1))


def make_clip(out: Path, bpe_gz: Path, images: list[Path], base: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tok = clip_tokenizer(bpe_gz)
    config = base_clip_config(len(tok)) if base else tiny_clip_config(len(tok))
    model = CLIPModel(config).eval()
    randomise(model)
    model.logit_scale.data.fill_(np.log(1 / 0.07))
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    proc = CLIPImageProcessorPil()
    proc.save_pretrained(out)
    if base:
        return
    pil = [Image.open(p).convert("RGB") for p in images]
    pixel_values = proc(images=pil, return_tensors="pt")["pixel_values"]
    text = tok(TEXTS, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.inference_mode():
        image_embeds = model.get_image_features(pixel_values=pixel_values).pooler_output
        text_embeds = model.get_text_features(input_ids=text["input_ids"], attention_mask=text["attention_mask"]).pooler_output
        full = model(input_ids=text["input_ids"], attention_mask=text["attention_mask"], pixel_values=pixel_values)
    goldens = {
        "pixel_values": pixel_values.contiguous(),
        "input_ids": text["input_ids"].to(torch.int64).contiguous(),
        "attention_mask": text["attention_mask"].to(torch.int64).contiguous(),
        "image_embeds": image_embeds.contiguous(),
        "text_embeds": text_embeds.contiguous(),
        "logits_per_image": full.logits_per_image.contiguous(),
    }
    safetensors.torch.save_file(goldens, out / "goldens.safetensors")
    meta = {
        "texts": TEXTS,
        "frames": [p.name for p in images],
        "seed": SEED,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "pillow": PIL.__version__,
        "image_processor": type(proc).__name__,
    }
    (out / "goldens.json").write_text(json.dumps(meta, indent=2) + "\n")


# BLIP: an unconditional caption and one continuing a prompt, as
# BlipForConditionalGeneration.generate runs them (greedy).
BLIP_PROMPT = "a picture of"
BLIP_NEW_TOKENS = 20
BLIP_SCALE = 0.1


def blip_tokenizer(bert_tokenizer_json: Path) -> BertTokenizerFast:
    """BLIP's tokenizer: bert-base-uncased's WordPiece (30522 tokens; the same
    file all-MiniLM-L6-v2 ships) with BLIP's two added tokens, `[DEC]` (the
    decoder's start, 30522) and `[ENC]` (30523)."""
    tok = BertTokenizerFast(tokenizer_file=str(bert_tokenizer_json), bos_token="[DEC]", model_max_length=512)
    tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    tok.backend_tokenizer.no_truncation()
    tok.backend_tokenizer.no_padding()
    assert tok.convert_tokens_to_ids(["[DEC]", "[ENC]"]) == [30522, 30523], "not the bert-base-uncased vocabulary"
    return tok


def tiny_blip_config() -> BlipConfig:
    text = dict(vocab_size=30524, hidden_size=32, encoder_hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=512, projection_dim=16)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=384, patch_size=16,
                  projection_dim=16)
    return BlipConfig(text_config=text, vision_config=vision, projection_dim=16, image_text_hidden_size=16)


def make_blip(out: Path, bert_tokenizer_json: Path, images: list[Path], base: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tok = blip_tokenizer(bert_tokenizer_json)
    # base: Salesforce/blip-image-captioning-base's architecture (transformers' defaults), random weights.
    model = BlipForConditionalGeneration(BlipConfig() if base else tiny_blip_config()).eval()
    # Larger weights than CLIP's: at 0.02 the image barely moves the decoder
    # (both frames got one caption) and greedy steps nearly tie.
    randomise(model, scale=BLIP_SCALE)
    # The decoder's output layer is tied to its word embeddings (as in the
    # hub checkpoint); re-tie after randomising, so only one is saved.
    model.tie_weights()
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    proc = BlipImageProcessorPil()
    proc.save_pretrained(out)
    if base:
        return
    pil = [Image.open(p).convert("RGB") for p in images]
    pixel_values = proc(images=pil, return_tensors="pt")["pixel_values"]
    prompt = tok([BLIP_PROMPT] * len(pil), return_tensors="pt")
    with torch.inference_mode():
        image_embeds = model.vision_model(pixel_values=pixel_values)[0]
        plain = model.generate(pixel_values=pixel_values, max_new_tokens=BLIP_NEW_TOKENS, do_sample=False, num_beams=1)
        prompted = model.generate(pixel_values=pixel_values, input_ids=prompt["input_ids"].clone(), max_new_tokens=BLIP_NEW_TOKENS,
                                  do_sample=False, num_beams=1)
        # A batch where one caption ends early: the end token made the sixth
        # token of the first frame's caption (the second frame's goes on,
        # padded after the first ends).
        stop = int(plain[0, 6])
        sep = model.config.text_config.sep_token_id
        model.config.text_config.sep_token_id = stop
        stopped = model.generate(pixel_values=pixel_values, max_new_tokens=BLIP_NEW_TOKENS, do_sample=False, num_beams=1)
        model.config.text_config.sep_token_id = sep
        start = torch.full((len(pil), 1), model.config.text_config.bos_token_id)
        first_logits = model.text_decoder(input_ids=start, encoder_hidden_states=image_embeds).logits[:, -1]
        # Greedy decoding is only comparable where the best token wins clearly:
        # record each step's margin between the best and second-best logit.
        steps = model.text_decoder(input_ids=plain, encoder_hidden_states=image_embeds).logits
        top2 = steps.topk(2, dim=-1).values
        margin = (top2[..., 0] - top2[..., 1]).min().item()
    goldens = {
        "pixel_values": pixel_values.contiguous(),
        "image_embeds": image_embeds.contiguous(),
        "first_logits": first_logits.contiguous(),
        "prompt_ids": prompt["input_ids"].to(torch.int64).contiguous(),
        "generated": plain.to(torch.int64).contiguous(),
        "generated_prompted": prompted.to(torch.int64).contiguous(),
        "generated_stopped": stopped.to(torch.int64).contiguous(),
    }
    safetensors.torch.save_file(goldens, out / "goldens.safetensors")
    meta = {
        "frames": [p.name for p in images],
        "prompt": BLIP_PROMPT,
        "max_new_tokens": BLIP_NEW_TOKENS,
        "captions": tok.batch_decode(plain, skip_special_tokens=True),
        "captions_prompted": tok.batch_decode(prompted, skip_special_tokens=True),
        "min_greedy_margin": margin,
        "stop_token_id": stop,
        "seed": SEED,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "pillow": PIL.__version__,
        "image_processor": type(proc).__name__,
    }
    (out / "goldens.json").write_text(json.dumps(meta, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", type=Path, default=Path("media"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--bpe", type=Path, help="open_clip/bpe_simple_vocab_16e6.txt.gz (default: from the installed open_clip)")
    ap.add_argument("--bert-tokenizer", type=Path, default=Path.home() / ".cache/vprog/models/all-minilm-l6-v2/tokenizer.json",
                    help="a bert-base-uncased tokenizer.json, for BLIP (default: the installed all-minilm-l6-v2's)")
    ap.add_argument("--only", choices=["clip", "blip"], help="write one model's goldens")
    ap.add_argument("--base", action="store_true", help="write a base-size random CLIP (no goldens) instead")
    args = ap.parse_args()
    bpe = args.bpe
    if bpe is None:
        import importlib.util

        spec = importlib.util.find_spec("open_clip")
        if spec is None or spec.origin is None:
            raise SystemExit("open_clip is not installed: pip install --no-deps open-clip-torch==3.3.0, or pass --bpe")
        bpe = Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"
    torch.manual_seed(SEED)
    if args.base:
        if args.only == "blip":
            make_blip(args.out, args.bert_tokenizer, [], base=True)
        else:
            make_clip(args.out, bpe, [], base=True)
        return
    images = frames(args.media, args.out / "frames")
    if args.only in (None, "clip"):
        make_clip(args.out / "clip-tiny", bpe, images, base=False)
    if args.only in (None, "blip"):
        torch.manual_seed(SEED)
        make_blip(args.out / "blip-tiny", args.bert_tokenizer, images)


if __name__ == "__main__":
    main()
