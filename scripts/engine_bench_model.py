#!/usr/bin/env python3
"""Build the random-weight Qwen3-0.6B-shaped model of the CPU generation
benchmark (scripts/bench_engine.sh), as f32 safetensors and as Q8_0 GGUF.

Writes into --out (never the repository: ~3.2 GB in all):

  qwen3-0.6b-random/            Qwen3ForCausalLM, the shape of Qwen/Qwen3-0.6B
                                (vocab 151936, hidden 1024, FFN 3072, 28 layers,
                                16 query / 8 KV heads of 128, rms_norm_eps 1e-6,
                                rope_theta 1e6, 40960 positions, tied
                                embeddings), float32, save_pretrained:
                                config.json (Hub layout, as Qwen ships it) +
                                model.safetensors (~2.4 GB).
  qwen3-0.6b-random-q8_0.gguf   the same weights as a llama.cpp-style "qwen3"
                                GGUF: every 2-D matrix Q8_0 (bit-exact with
                                ggml's quantize_row_q8_0), norms F32, no
                                output.weight (tied: token_embd is the output
                                matrix), q/k NOT row-permuted (qwen3 uses NEOX
                                rope = HF rotate_half), metadata as in
                                scripts/engine_fixtures.py (~0.63 GB).
  qwen3-0.6b-random.json        what was built (seed, shape, versions); the
                                outputs are reused while it matches.

Weights: every matrix ~ N(0, 0.02^2) (transformers' initializer_range), every
RMSNorm weight (input/post-attention/final norms, q_norm, k_norm) exactly 1,
drawn from one torch.Generator seeded with --seed, parameters visited in
sorted-name order (the tied embedding once).  Random weights are enough to
measure speed: the cost of a forward pass does not depend on the values.

The GGUF carries a synthetic byte-level BPE vocabulary of the full 151936
entries (256 byte symbols, 2- and 3-symbol merges, <|endoftext|> 151643,
<|im_start|> 151644, <|im_end|> 151645 as in Qwen3, then [PADn] unused
slots) so that llama.cpp-style tools accept the file; the ids mean nothing
and the benchmark feeds token ids directly.

Usage (the venv of scripts/engine_fixtures.py):

    /work/venv-fixtures/bin/python scripts/engine_bench_model.py \\
        --out ~/.cache/zhishu/bench [--seed 0] [--force]

Exits quickly when the outputs already exist for the same seed (unless
--force).  Nothing is fetched from the network.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import argparse
import json
import shutil
import sys
import time
from pathlib import Path


def import_stack() -> None:
    """The heavy imports (~10 s), only once there is something to build."""
    global gguf, np, torch, transformers, GGMLQuantizationType, GGUFWriter
    global AutoModelForCausalLM, Qwen3Config, Qwen3ForCausalLM, gguf_name, write_hub_config
    import gguf
    import numpy as np
    import torch
    import transformers
    from gguf import GGMLQuantizationType, GGUFWriter
    from transformers import AutoModelForCausalLM, Qwen3Config, Qwen3ForCausalLM

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from engine_fixtures import gguf_name, write_hub_config

MODEL_DIR = "qwen3-0.6b-random"
GGUF_FILE = "qwen3-0.6b-random-q8_0.gguf"
META_FILE = "qwen3-0.6b-random.json"

VOCAB = 151936
ENDOFTEXT, IM_START, IM_END = 151643, 151644, 151645
STD = 0.02
QUANT_ROWS = 8192  # rows quantised per chunk: bounds numpy's temporaries

SHAPE = dict(
    vocab_size=VOCAB,
    hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    rms_norm_eps=1e-6,
    max_position_embeddings=40960,
    tie_word_embeddings=True,
)


def bench_config() -> "Qwen3Config":
    return Qwen3Config(
        **SHAPE,
        hidden_act="silu",
        attention_bias=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        use_sliding_window=False,
        max_window_layers=SHAPE["num_hidden_layers"],
        bos_token_id=ENDOFTEXT,
        eos_token_id=IM_END,
        initializer_range=STD,
        dtype="float32",
    )


def init_weights_(model: "torch.nn.Module", seed: int) -> None:
    """Matrices ~ N(0, STD^2), 1-D parameters (all RMSNorm weights) = 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.ndim == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, STD, generator=g)


def log(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# GGUF
# --------------------------------------------------------------------------


def quantize_q8_0(data: "np.ndarray") -> "np.ndarray":
    """gguf.quants.quantize(Q8_0), a chunk of rows at a time (the whole
    151936 x 1024 embedding at once would need several GB of temporaries)."""
    rows = data.shape[0]
    out = np.empty((rows, data.shape[1] // 32 * 34), dtype=np.uint8)
    for r in range(0, rows, QUANT_ROWS):
        out[r:r + QUANT_ROWS] = gguf.quants.quantize(data[r:r + QUANT_ROWS], GGMLQuantizationType.Q8_0)
    return out


def add_bench_vocab(w: "GGUFWriter") -> None:
    """A synthetic GPT-2 byte-level BPE vocabulary of VOCAB entries whose
    merges are consistent (every merged token's parts exist)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    sym = [chr(c) for c in cs]                       # GPT-2 bytes_to_unicode
    n_merged = ENDOFTEXT - 256
    pairs = [(a, b) for a in sym for b in sym]        # 65536 two-symbol tokens
    merges = pairs[:n_merged]
    triples = [(a + b, c) for a, b in pairs for c in sym][: max(0, n_merged - len(merges))]
    merges += triples
    tokens = sym + [a + b for a, b in merges] + ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    types = [int(gguf.TokenType.NORMAL)] * len(tokens)
    types[ENDOFTEXT:] = [int(gguf.TokenType.CONTROL)] * 3
    while len(tokens) < VOCAB:
        tokens.append(f"[PAD{len(tokens)}]")
        types.append(int(gguf.TokenType.UNUSED))
    assert len(tokens) == VOCAB and tokens[IM_END] == "<|im_end|>"
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_eos_token_id(IM_END)
    w.add_pad_token_id(ENDOFTEXT)
    w.add_bos_token_id(ENDOFTEXT)
    w.add_add_bos_token(False)


def write_gguf(model, path: Path, t0: float) -> None:
    """As engine_fixtures.write_gguf for qwen3, with chunked quantisation."""
    cfg = model.config
    tmp = path.with_name(path.name + ".tmp")
    w = GGUFWriter(str(tmp), "qwen3")
    w.add_name("zhishu bench qwen3-0.6b-shaped (random weights)")
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_vocab_size(cfg.vocab_size)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_rope_dimension_count(cfg.head_dim)
    add_bench_vocab(w)

    sd = model.state_dict()
    names = [n for n in sd if n != "lm_head.weight"]  # tied

    def order(n: str):
        if n == "model.embed_tokens.weight":
            return (0, 0, "")
        if n.startswith("model.layers."):
            return (1, int(n.split(".")[2]), gguf_name(n))
        return (2, 0, "")

    for name in sorted(names, key=order):
        data = sd[name].detach().cpu().numpy()
        assert data.dtype == np.float32, (name, data.dtype)
        if data.ndim == 2:
            assert data.shape[1] % 32 == 0, f"{name}: row length {data.shape[1]} not a multiple of 32"
            w.add_tensor(gguf_name(name), quantize_q8_0(data), raw_dtype=GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(gguf_name(name), data.copy())
    log("quantised; writing GGUF", t0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(path)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rebuild even if the outputs exist")
    args = ap.parse_args()
    out: Path = args.out.expanduser()
    out.mkdir(parents=True, exist_ok=True)
    model_dir, gguf_path, meta_path = out / MODEL_DIR, out / GGUF_FILE, out / META_FILE

    meta = {
        "seed": args.seed,
        "std": STD,
        "shape": SHAPE,
        "rope_theta": 1000000.0,
        "script": "scripts/engine_bench_model.py",
    }
    have_st = (model_dir / "config.json").is_file() and (model_dir / "model.safetensors").is_file()
    old = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    same = old is not None and all(old.get(k) == meta[k] for k in ("seed", "std", "shape"))
    if args.force or not same:
        have_st = False
        gguf_path.unlink(missing_ok=True)
    if have_st and gguf_path.is_file():
        print(f"up to date: {model_dir} and {gguf_path} (seed {args.seed}); --force rebuilds",
              file=sys.stderr)
        return 0

    t0 = time.perf_counter()
    import_stack()
    meta.update(torch=torch.__version__, transformers=transformers.__version__, gguf=gguf_version())
    log("imported torch, transformers, gguf", t0)
    torch.manual_seed(args.seed)
    if have_st:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        log(f"loaded {model_dir}", t0)
        meta["build_seconds"] = dict((old or {}).get("build_seconds") or {})
    else:
        meta_path.unlink(missing_ok=True)
        model = Qwen3ForCausalLM._from_config(bench_config()).eval()
        init_weights_(model, args.seed)
        n = sum(p.numel() for p in model.parameters())
        log(f"built Qwen3ForCausalLM, {n / 1e6:.1f}M parameters (tied embedding counted once)", t0)
        tmp = out / (MODEL_DIR + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        write_hub_config(tmp)
        shutil.rmtree(model_dir, ignore_errors=True)
        tmp.replace(model_dir)
        log(f"saved {model_dir}", t0)
        meta["build_seconds"] = {"safetensors": round(time.perf_counter() - t0, 1)}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")  # the folder is reusable

    t1 = time.perf_counter()
    write_gguf(model, gguf_path, t0)
    meta["build_seconds"]["gguf_q8_0"] = round(time.perf_counter() - t1, 1)
    log(f"wrote {gguf_path}", t0)

    meta["bytes"] = {
        "model.safetensors": (model_dir / "model.safetensors").stat().st_size,
        GGUF_FILE: gguf_path.stat().st_size,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    for name, size in meta["bytes"].items():
        print(f"{name}: {size / 2**20:.0f} MiB", file=sys.stderr)
    return 0


def gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    sys.exit(main())
