"""Writes tokenizer_golden.json: reference token ids for the GGUF tokenizers of the vprog-llm crate.

The reference is transformers' own GGUF tokenizer conversion (the code behind
`AutoTokenizer.from_pretrained(dir, gguf_file="model.gguf")`):
`get_gguf_tokenizer` + `convert_gguf_tokenizer` from
`transformers.integrations.gguf.gguf_tokenizer_mapping`. AutoTokenizer itself
refuses GGUF files without torch installed, although building the tokenizer
needs no tensors; the GGUF reader module only imports torch for tensor dtypes,
so a stub module stands in for it (no torch code runs).

Usage (from the workspace root):
    python -m venv /tmp/venv && /tmp/venv/bin/pip install transformers gguf
    VPROG_MODELS=/work/models /tmp/venv/bin/python llm/tests/data/make_golden.py

Versions used for the committed file: transformers 5.23.0, tokenizers 0.23.3, gguf 0.19.0.
"""

import json
import os
import sys
import types

import transformers  # noqa: F401  (imported before the stub: its torch probe must see no torch)


class _Stub(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {})


sys.modules.setdefault("torch", _Stub("torch"))

from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer, get_gguf_tokenizer  # noqa: E402

MODELS = ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"]

STRINGS = [
    "What does the speaker teach?",
    "I've spent nearly two decades observing what makes people luckier than others.",
    "In 2024, 3.14159 and 1,000,000 people paid $12.50 each (about 7%).",
    "Hello,   world!\tTabs\tand  double  spaces.",
    "line one\nline two\n\n\nafter three newlines\r\nwindows",
    "   leading and trailing spaces   ",
    "Café naïve coöperate — “quotes” and ‘single’ … ellipsis",
    "日本語のテキストと中文文本, 한국어 텍스트",
    "Emoji: 😀🎉👍🏽 and symbols ∑∫√ ≤ ≥ ≠ → ←",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "[00:12.4-00:14.9] I've spent nearly two decades",
    "don't won't it's we'll they're I'd you've SHE'S",
    "fn main() { let x: Vec<u8> = vec![1, 2, 3]; println!(\"{:?}\", x); }",
    "A) entrepreneurship B) cooking C) physics D) music E) law",
    "<|endoftext|>text after end<|im_end|>",
    "",
]


def main():
    root = os.environ.get("VPROG_MODELS", "/work/models")
    out = {"reference": f"transformers {transformers.__version__} GGUF tokenizer conversion", "models": {}}
    for model in MODELS:
        path = os.path.join(root, model, "model.gguf")
        arch, tokenizer_dict, _ = get_gguf_tokenizer(path)
        tok, _ = convert_gguf_tokenizer(arch, tokenizer_dict)
        cases = []
        for s in STRINGS:
            enc = tok.encode(s, add_special_tokens=False)
            cases.append({"text": s, "ids": enc.ids})
        out["models"][model] = cases
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "tokenizer_golden.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
