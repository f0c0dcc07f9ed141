#!/usr/bin/env python3
"""The GPU's own ceilings and transformers' speed, for scripts/gpu-check.sh.

Runs on the device machine (PyTorch with CUDA and transformers, no
network) and prints one JSON object:

- copy_bandwidth_gb_s: device-to-device copy of 4 GiB (bytes read +
  written per second, best of 10);
- bf16_gemm_tflops: an 8192^3 bf16 matrix product (best of 10);
- decode_ceiling_tokens_s: copy bandwidth / 2 / the model's weight bytes
  (each decode step reads every weight once);
- transformers: `generate` of a Qwen3-32B-shaped model with random bf16
  weights made on the device (sdpa attention), 128 prompt tokens, 64 new
  tokens, greedy, at batch 1 and a static batch of 16, and one 8K-token
  prefill; tokens/s.

    python3 scripts/gpu_baselines.py [--layers 64] [--skip-transformers]

--layers keeps Qwen3-32B's width with fewer layers (for a smaller GPU or a
quick try); the ceiling is computed for the model actually built.
"""

import argparse
import json
import time

import torch


def timed(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def copy_bandwidth():
    n = 4 << 30
    src = torch.empty(n, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    best = timed(lambda: dst.copy_(src), 10)
    del src, dst
    return 2 * n / best / 1e9


def gemm_tflops():
    n = 8192
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    best = timed(lambda: a @ b, 10)
    return 2 * n**3 / best / 1e12


def qwen3_32b(layers):
    from transformers import AutoModelForCausalLM, Qwen3Config

    config = Qwen3Config(
        vocab_size=151936,
        hidden_size=5120,
        intermediate_size=25600,
        num_hidden_layers=layers,
        num_attention_heads=64,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=40960,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    return model.eval()


def generate_speed(model, batch, prompt_tokens, new_tokens):
    ids = (torch.arange(prompt_tokens, device="cuda") * 7919 % 151936).repeat(batch, 1)
    mask = torch.ones_like(ids)

    def go(n):
        with torch.no_grad():
            model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
            )

    go(2)  # warm-up
    prefill = timed(lambda: go(1), 1)
    total = timed(lambda: go(new_tokens), 1)
    decode = (total - prefill) / max(new_tokens - 1, 1)
    return {
        "batch": batch,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "prefill_tokens_s": batch * prompt_tokens / prefill,
        "decode_tokens_s": batch / decode,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=64)
    p.add_argument("--skip-transformers", action="store_true")
    a = p.parse_args()
    out = {
        "device": torch.cuda.get_device_name(0),
        "copy_bandwidth_gb_s": copy_bandwidth(),
        "bf16_gemm_tflops": gemm_tflops(),
    }
    if not a.skip_transformers:
        model = qwen3_32b(a.layers)
        weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        # A decode step reads every weight but the input embedding.
        read = weight_bytes - model.model.embed_tokens.weight.numel() * 2
        out["layers"] = a.layers
        out["weight_bytes"] = weight_bytes
        out["decode_ceiling_tokens_s"] = out["copy_bandwidth_gb_s"] * 1e9 / 2 / read
        out["transformers"] = [
            generate_speed(model, 1, 128, 64),
            generate_speed(model, 16, 128, 64),
            generate_speed(model, 1, 8192, 2),
        ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
