"""transformers' `generate` on the model and prompts of the serving bench
(services/engine/benches/serving.rs): one request at a time, then the
prompts batched up front (left padding), greedy, exactly NEW tokens each.
Prints one JSON object per mode.

    python scripts/bench_serving_torch.py --model SmolLM2-135M-Instruct.Q4_1.gguf \
        [--requests 8] [--batch 16] [--new-tokens 64] [--threads N]

A .gguf file is dequantised to f32 by transformers (needs the gguf
package); a folder is read as a Hugging Face checkpoint.
"""

import argparse
import json
import os
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

# The same questions, in the same order, as the Rust bench.
QUESTIONS = [
    "Explain how a hash map handles collisions.",
    "Write a short poem about the sea at night.",
    "What are three benefits of regular exercise?",
    "Describe the water cycle for a ten-year-old.",
    "How do I politely decline a meeting invitation?",
    "Summarise the plot of Romeo and Juliet.",
    "Give me a recipe idea that uses lentils and spinach.",
    "Why is the sky blue?",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    kw = {}
    path = a.model
    if path.endswith(".gguf"):
        kw["gguf_file"] = os.path.basename(path)
        path = os.path.dirname(os.path.abspath(path))
    tok = AutoTokenizer.from_pretrained(path, **kw)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kw).eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"

    def text(i: int) -> str:
        q = QUESTIONS[i % len(QUESTIONS)]
        return tok.apply_chat_template(
            [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )

    gen = dict(
        max_new_tokens=a.new_tokens,
        min_new_tokens=a.new_tokens,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
    )
    with torch.inference_mode():
        # Warm-up (first-call allocations), not timed.
        model.generate(**tok(text(0), return_tensors="pt"), max_new_tokens=2, do_sample=False)
        t = time.perf_counter()
        tokens = 0
        for i in range(a.requests):
            ids = tok(text(i), return_tensors="pt")
            out = model.generate(**ids, **gen)
            tokens += out.shape[1] - ids["input_ids"].shape[1]
        s = time.perf_counter() - t
        common = {
            "engine": "transformers",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "threads": a.threads,
        }
        print(json.dumps({**common, "mode": "one_at_a_time", "requests": a.requests,
                          "tokens": tokens, "seconds": round(s, 3),
                          "tokens_per_second": round(tokens / s, 2)}))
        batch = tok([text(i) for i in range(a.batch)], return_tensors="pt", padding=True)
        t = time.perf_counter()
        out = model.generate(**batch, **gen)
        s = time.perf_counter() - t
        tokens = (out.shape[1] - batch["input_ids"].shape[1]) * a.batch
        print(json.dumps({**common, "mode": "static_batch", "requests": a.batch,
                          "tokens": tokens, "seconds": round(s, 3),
                          "tokens_per_second": round(tokens / s, 2)}))


if __name__ == "__main__":
    main()
