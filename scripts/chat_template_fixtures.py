#!/usr/bin/env python3
"""Reference chat-template renderings for the engine's template tests.

Renders a few conversations with transformers' own `apply_chat_template`
(the reference users trust) for the Qwen3 tokenizer and for the template
embedded in the SmolLM2 GGUF, and writes
services/engine/tests/fixtures/chat_templates.json.

    /work/venv-fixtures/bin/python scripts/chat_template_fixtures.py

Needs the offline assets (scripts/fetch-assets.sh) and transformers + gguf.
"""
import json
import os
from pathlib import Path

from gguf import GGUFReader
from transformers import AutoTokenizer, PreTrainedTokenizerFast

ASSETS = Path(os.environ.get("ZHISHU_ASSETS_DIR", Path.home() / ".cache/zhishu/assets"))
OUT = Path(__file__).resolve().parent.parent / "services/engine/tests/fixtures/chat_templates.json"

CONVERSATIONS = {
    "single": [{"role": "user", "content": "What is the capital of France?"}],
    "system": [
        {"role": "system", "content": "你是知枢，一个企业知识助手。"},
        {"role": "user", "content": "报销 hotel 上限是多少？"},
    ],
    "multi_turn_with_thinking": [
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "<think>\nTwo is the smallest.\n</think>\n\n2"},
        {"role": "user", "content": "Another one?"},
    ],
}


def gguf_template(path):
    reader = GGUFReader(path)
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main():
    out = {}
    qwen = AutoTokenizer.from_pretrained(ASSETS / "tokenizers/qwen3")
    for name, messages in CONVERSATIONS.items():
        for thinking in (True, False):
            key = f"qwen3/{name}/thinking={str(thinking).lower()}"
            out[key] = qwen.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True, enable_thinking=thinking
            )
    smol = PreTrainedTokenizerFast(
        tokenizer_object=qwen.backend_tokenizer if hasattr(qwen, "backend_tokenizer") else qwen._tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
    )
    smol.chat_template = gguf_template(ASSETS / "models/SmolLM2-135M-Instruct.Q4_1.gguf")
    for name, messages in CONVERSATIONS.items():
        out[f"smollm2/{name}"] = smol.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
    OUT.write_text(json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(out)} renderings)")


if __name__ == "__main__":
    main()
