#!/usr/bin/env python3
"""Prefill and decode tokens/s of transformers on PyTorch (CPU, float32) for
the CPU generation benchmark (scripts/bench_engine.sh); the reference the
Rust bench (cargo bench -p zhishu-engine --bench generate) is compared with.

Model: the folder written by scripts/engine_bench_model.py
(qwen3-0.6b-random/, f32 safetensors, Qwen3-0.6B shape).

Prompt: prompt_tokens deterministic token ids, the same in the Rust bench:

    ids[i] = (i * 7919) % 151936        for i in 0 .. prompt_tokens-1

(7919 is prime and 151936 = 2^7 * 1187, so the ids are distinct for any
prompt up to 151936 tokens.)  No BOS or chat template is added.

One run, with a fresh KV cache (DynamicCache):

  prefill  one forward over the whole prompt, use_cache, logits for the last
           position only (logits_to_keep=1, what generate() does): time to
           first token.  prefill_tokens_per_s = prompt_tokens / seconds.
  decode   new_tokens steps, each = argmax of the previous logits (greedy,
           EOS ignored) fed back as a single-token forward with the cache;
           the first step feeds the argmax of the prefill logits, so the
           cache grows from prompt_tokens to prompt_tokens + new_tokens - 1
           entries before the last step.  A plain Python loop, not
           model.generate (no logits processors, stopping criteria or
           bookkeeping).  decode_tokens_per_s = new_tokens / seconds of the
           new_tokens steps (the prefill excluded).

One untimed warm-up run (--warmup) precedes --runs timed runs (3); prefill and
decode rates are the medians over the timed runs.  peak_rss_mib is the peak
resident set of the whole process (ru_maxrss: model load included).

Attention: "sdpa" (torch.nn.functional.scaled_dot_product_attention,
transformers' default and the faster one here) unless --attn eager.
Threads: torch.set_num_threads(--threads or os.cpu_count()).

Prints one JSON object on stdout; progress goes to stderr.

    /work/venv-fixtures/bin/python scripts/engine_bench_torch.py \\
        --model ~/.cache/zhishu/bench/qwen3-0.6b-random \\
        --prompt-tokens 512 --new-tokens 32 [--threads N]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, DynamicCache

ID_STRIDE = 7919
ID_MODULUS = 151936  # Qwen3 vocab_size


def prompt_ids(n: int) -> list[int]:
    return [(i * ID_STRIDE) % ID_MODULUS for i in range(n)]


def out_cache(out):
    """The KV cache of a forward output (past_key_values -> cache in transformers 5)."""
    return getattr(out, "cache", None) or getattr(out, "past_key_values", None)


@torch.inference_mode()
def run_once(model, ids: torch.Tensor, new_tokens: int) -> tuple[float, float, list[int]]:
    """(prefill seconds, decode seconds, generated ids)."""
    cache = DynamicCache(config=model.config)
    t0 = time.perf_counter()
    out = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
    cache = out_cache(out)
    nxt = out.logits[:, -1].argmax(dim=-1, keepdim=True)  # [1, 1]
    t1 = time.perf_counter()
    generated = []
    for _ in range(new_tokens):
        generated.append(nxt)
        out = model(input_ids=nxt, cache=cache, use_cache=True)
        cache = out_cache(out)
        nxt = out.logits[:, -1].argmax(dim=-1, keepdim=True)
    t2 = time.perf_counter()
    assert cache.get_seq_length() == ids.shape[1] + new_tokens, cache.get_seq_length()
    return t1 - t0, t2 - t1, [int(t) for t in torch.cat(generated, dim=1)[0]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="the qwen3-0.6b-random folder")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="default: os.cpu_count()")
    ap.add_argument("--runs", type=int, default=3, help="timed runs (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    args = ap.parse_args()
    if args.prompt_tokens < 1 or args.new_tokens < 1 or args.runs < 1:
        ap.error("--prompt-tokens, --new-tokens and --runs must be positive")

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    t_load = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        args.model.expanduser(), dtype=torch.float32, attn_implementation=args.attn
    ).eval()
    load_s = time.perf_counter() - t_load
    cfg = model.config
    if cfg.max_position_embeddings < args.prompt_tokens + args.new_tokens:
        ap.error("prompt + new tokens exceed max_position_embeddings")
    print(f"loaded {args.model} in {load_s:.1f}s ({cfg.model_type}, {cfg.num_hidden_layers} layers, "
          f"attn {args.attn}, {threads} threads)", file=sys.stderr, flush=True)

    ids = torch.tensor([prompt_ids(args.prompt_tokens)], dtype=torch.long)
    for i in range(args.warmup):
        p, d, _ = run_once(model, ids, args.new_tokens)
        print(f"warm-up {i + 1}: prefill {p:.2f}s, decode {d:.2f}s", file=sys.stderr, flush=True)
    prefill_s, decode_s, generated = [], [], None
    for i in range(args.runs):
        p, d, gen = run_once(model, ids, args.new_tokens)
        prefill_s.append(p)
        decode_s.append(d)
        if generated is None:
            generated = gen
        elif gen != generated:
            print("warning: greedy ids differ between runs", file=sys.stderr)
        print(f"run {i + 1}: prefill {p:.2f}s ({args.prompt_tokens / p:.1f} tok/s), decode {d:.2f}s "
              f"({args.new_tokens / d:.2f} tok/s)", file=sys.stderr, flush=True)

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {
        "engine": "transformers",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": threads,
        "attn_implementation": args.attn,
        "weights": "f32",
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "prefill_tokens_per_s": round(args.prompt_tokens / statistics.median(prefill_s), 3),
        "decode_tokens_per_s": round(args.new_tokens / statistics.median(decode_s), 3),
        "peak_rss_mib": round(peak_mib, 1),
        "runs": args.runs,
        "prefill_seconds": [round(s, 4) for s in prefill_s],
        "decode_seconds": [round(s, 4) for s in decode_s],
        "load_seconds": round(load_s, 2),
        "generated_ids": generated,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
