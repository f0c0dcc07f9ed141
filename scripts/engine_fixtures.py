#!/usr/bin/env python3
"""Generate reference fixtures for the zhishu-engine crate (issue #7, parity
with transformers).

The Rust engine (services/engine) must reproduce, without Python, the logits
that transformers computes for Qwen3 and Llama-architecture decoder models.
This script writes the ground truth into services/engine/tests/fixtures/:

  tiny-qwen3/                 tiny random Qwen3ForCausalLM (GQA 4/2 heads,
                              q_norm/k_norm, tied embeddings, rope_theta 1e6).
                              config.json is in the *Hub* layout of the real
                              Qwen/Qwen3-* checkpoints ("rope_theta" and
                              "rope_scaling" at top level, "torch_dtype").
  tiny-qwen3-yarn/            the same weights, config with YaRN rope scaling
                              (factor 4, original_max_position_embeddings
                              32768, max_position_embeddings 131072), also in
                              the Hub layout, exactly as Qwen's README tells
                              users to edit config.json.
  tiny-llama/                 tiny random LlamaForCausalLM (GQA, no q/k norm,
                              untied lm_head, rope_theta 1e4, eps 1e-5).
                              config.json is in the transformers-5 layout
                              written by save_pretrained ("rope_parameters",
                              "dtype"), so the Rust config parser sees both.
  tiny-llama-sharded/         the same model saved with a small max_shard_size:
                              model-0000k-of-0000n.safetensors +
                              model.safetensors.index.json.
  tiny-llama-q8_0.gguf        llama.cpp-style GGUF ("llama" arch), Q8_0 matrices,
                              F32 norms, q/k rows permuted like llama.cpp's
                              convert_hf_to_gguf.py (see permute_qk below).
  tiny-qwen3-q8_0.gguf        llama.cpp-style GGUF ("qwen3" arch), Q8_0, with
                              attn_q_norm/attn_k_norm, NOT permuted (llama.cpp
                              runs qwen3 with NEOX rope = HF rotate_half).
  tiny_qwen3_logits.json      reference logits (schema below)
  tiny_qwen3_yarn_logits.json
  tiny_llama_logits.json
  VERSIONS.txt                the Python stack that produced all of the above

JSON schema of every *_logits.json (T = number of positions of a block):

  "model", "config" (the key hyper-parameters), "vocab_size",
  "head_vocab" = H = 64: "logits_head" rows hold the logits of token ids 0..H-1
  "rope": {"inv_freq": [head_dim/2], "attention_scaling": float, ...}
  A *result block* is {"logits_head": [T][H], "argmax": [T] (over the FULL
  vocab), "last_logits": [vocab] (the full row of the block's last position)}.
  "full":        {"ids": [T], "position_ids": [T], result block,
                  "logits": [T][vocab] (every position, full vocab)}
  "incremental": {"ids": [T], "chunks": [8,1,1,1,1] (tokens per forward call,
                  the cache carried between calls), result block,
                  "max_abs_diff_vs_full": float}
  "batch":       {"pad_id": 0, "padding_side": "left", "lengths": [3],
                  "input_ids": [3][L], "attention_mask": [3][L],
                  "position_ids": [3][L] (= max(cumsum(mask)-1, 0), passed
                  explicitly), "prompts": [3 x {"ids": [len], result block
                  over the real (non-pad) positions only,
                  "max_abs_diff_vs_unbatched": float}]}
  "yarn" (tiny_qwen3_yarn_logits.json) / "far_positions" (tiny_qwen3):
                 {"ids": [16], "far": {"position_ids": [40000..40015],
                  result block}, "near": {"position_ids": [0..15], result
                  block}, "spread": {"position_ids": [0, 2667, .., 40005],
                  result block}} (see run_positions for why spread exists);
                  each of far/near/spread also has
                  "max_abs_diff_vs_f64_reference" (a float64 numpy forward
                  with positions*inv_freq in f64 vs transformers' f32)
  "gguf_q8_0" (qwen3, llama): {"file", "ids" (= full.ids), result block of the
                  HF model run on the weights dequantised from the GGUF file,
                  "max_abs_diff_vs_f32": float, "max_abs_diff_numpy_ref":
                  float (a float64 numpy forward that reads the GGUF layout
                  literally, permuted q/k + llama.cpp rope mode, vs the HF run
                  on the same dequantised weights)}

All floats are rounded to 7 significant digits.  Every forward pass uses
float32, CPU, one thread and the "eager" attention implementation.

Deterministic: running the script twice gives byte-identical files (fixed
seeds, single-threaded torch, deterministic algorithms, explicit ordering).

How to run (from the repository root; the venv lives outside the repo):

    python3.11 -m venv /work/venv-fixtures
    /work/venv-fixtures/bin/pip install torch==2.15.0 transformers==5.24.0 \\
        safetensors==0.8.0 gguf==0.19.0 numpy==2.4.6
    /work/venv-fixtures/bin/python scripts/engine_fixtures.py \\
        [--out services/engine/tests/fixtures]

Nothing is fetched from the network: all models are built from configs here.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import argparse
import json
import math
import platform
import shutil
import sys
from pathlib import Path

import gguf
import numpy as np
import safetensors
import torch
import transformers
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    DynamicCache,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

# --------------------------------------------------------------------------
# Fixed inputs
# --------------------------------------------------------------------------

VOCAB = 512
HEAD_VOCAB = 64          # logits_head keeps token ids 0..63 of each row
PROMPT_LEN = 12          # "full" / "incremental" prompt
FIRST_CHUNK = 8          # incremental: 8 tokens, then one at a time
BATCH_LENGTHS = [5, 9, 12]
PAD_ID = 0
YARN_LEN = 16
FAR_START = 40000        # > 32768 (original context), < 40960 (Qwen3 max)
SPREAD_STEP = 2667       # 15 * 2667 = 40005 < 40960


def token_ids(seed: int, n: int) -> list[int]:
    """n token ids in [1, VOCAB): 0 is kept for padding."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB, (n,), generator=g).tolist()


PROMPT = token_ids(100, PROMPT_LEN)
# The 12-token batch prompt is PROMPT itself, so batch row 2 can also be
# compared against "full"; the other two are independent.
BATCH_PROMPTS = [token_ids(101, BATCH_LENGTHS[0]), token_ids(102, BATCH_LENGTHS[1]), PROMPT]
YARN_IDS = token_ids(103, YARN_LEN)

# --------------------------------------------------------------------------
# Model configs
# --------------------------------------------------------------------------

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,   # GQA: each kv head serves 2 query heads
    head_dim=16,
    hidden_act="silu",
    attention_bias=False,
    pad_token_id=PAD_ID,
    bos_token_id=1,
    eos_token_id=2,
    dtype="float32",
)


def qwen3_config(yarn: bool) -> Qwen3Config:
    rope = {"rope_type": "default", "rope_theta": 1000000.0}
    max_pos = 40960
    if yarn:
        rope = {
            "rope_type": "yarn",
            "factor": 4.0,
            "original_max_position_embeddings": 32768,
            "rope_theta": 1000000.0,
        }
        max_pos = 131072
    return Qwen3Config(
        **COMMON,
        rms_norm_eps=1e-6,
        rope_parameters=rope,
        max_position_embeddings=max_pos,
        tie_word_embeddings=True,
        use_sliding_window=False,
        max_window_layers=2,
    )


def llama_config() -> LlamaConfig:
    return LlamaConfig(
        **COMMON,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        mlp_bias=False,
    )


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def r7(x: float) -> float:
    """Round to 7 significant digits (what f32 can honestly carry)."""
    v = float(f"{float(x):.7g}")
    return 0.0 if v == 0.0 else v  # no "-0.0" in the JSON


def r7list(t) -> list:
    """A (nested) tensor/array as nested lists of 7-digit floats."""
    a = np.asarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t, dtype=np.float64)
    if a.ndim == 1:
        return [r7(v) for v in a]
    return [r7list(row) for row in a]


def dump_json(obj, path: Path) -> None:
    """Write JSON readably but compactly: every list of numbers on one line,
    everything else one item per line."""

    def enc(o, indent: int) -> str:
        pad, pad1 = " " * indent, " " * (indent + 1)
        if isinstance(o, dict):
            items = [f"{pad1}{json.dumps(k)}: {enc(v, indent + 1)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, (list, tuple)):
            if all(isinstance(i, (int, float)) and not isinstance(i, bool) for i in o):
                return json.dumps(list(o), separators=(",", ":"))
            items = [pad1 + enc(i, indent + 1) for i in o]
            return "[\n" + ",\n".join(items) + "\n" + pad + "]"
        return json.dumps(o, ensure_ascii=False)

    path.write_text(enc(obj, 0) + "\n", encoding="utf-8")


def result_block(logits: torch.Tensor) -> dict:
    """logits [T, vocab] -> the compact result block described above."""
    return {
        "logits_head": r7list(logits[:, :HEAD_VOCAB]),
        "argmax": logits.argmax(dim=-1).tolist(),
        "last_logits": r7list(logits[-1]),
    }


def init_weights_(model: torch.nn.Module, seed: int) -> None:
    """Overwrite transformers' init with larger, seeded random values.

    The default init (std 0.02, norms exactly 1) gives near-zero logits and
    would let a Rust bug such as a forgotten norm weight go unnoticed.  Here
    every matrix ~ N(0, 0.1^2) and every RMSNorm weight ~ 1 + N(0, 0.1^2),
    including Qwen3's per-head q_norm/k_norm.  Parameters are visited in
    sorted-name order so the values do not depend on module order; tied
    parameters (lm_head = embed_tokens) are visited once.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.ndim == 1:  # every 1-D parameter of these models is an RMSNorm weight
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def out_cache(out):
    """The KV cache of a forward output (renamed past_key_values -> cache in transformers 5.x)."""
    return getattr(out, "cache", None) or getattr(out, "past_key_values", None)


@torch.no_grad()
def logits_of(model, ids: list[int], position_ids: list[int] | None = None) -> torch.Tensor:
    """One unbatched, uncached forward: [T, vocab].

    With explicit position_ids an all-ones attention_mask is passed too:
    transformers 5 (masking_utils.find_packed_sequence_indices) treats
    position_ids as *packed sequences* when there is neither attention_mask
    nor cache, starting a new sequence wherever consecutive ids do not
    differ by exactly 1; the "spread" positions would otherwise give every
    token a block-diagonal mask of its own.  With the mask, the attention is
    plain causal over the whole row, which is what the engine does.
    """
    kw = {}
    if position_ids is not None:
        kw["position_ids"] = torch.tensor([position_ids])
        kw["attention_mask"] = torch.ones(1, len(ids), dtype=torch.long)
    return model(input_ids=torch.tensor([ids]), use_cache=False, **kw).logits[0]


# --------------------------------------------------------------------------
# The reference runs
# --------------------------------------------------------------------------


@torch.no_grad()
def run_full(model) -> tuple[dict, torch.Tensor]:
    logits = logits_of(model, PROMPT)
    block = {"ids": PROMPT, "position_ids": list(range(PROMPT_LEN)), **result_block(logits)}
    block["logits"] = r7list(logits)
    return block, logits


@torch.no_grad()
def run_incremental(model, full: torch.Tensor) -> dict:
    """Prefill 8 tokens, then decode the rest one token per call with the KV
    cache; positions come from the cache length (8, 9, ...)."""
    cache = DynamicCache(config=model.config)
    chunks = [FIRST_CHUNK] + [1] * (PROMPT_LEN - FIRST_CHUNK)
    rows, start = [], 0
    for n in chunks:
        out = model(input_ids=torch.tensor([PROMPT[start:start + n]]), cache=cache, use_cache=True)
        cache = out_cache(out)
        rows.append(out.logits[0])
        start += n
    logits = torch.cat(rows, dim=0)
    diff = (logits - full).abs().max().item()
    assert diff < 1e-4, f"incremental differs from full by {diff}"
    return {"ids": PROMPT, "chunks": chunks, **result_block(logits), "max_abs_diff_vs_full": r7(diff)}


@torch.no_grad()
def run_batch(model) -> dict:
    """The three prompts as one left-padded batch with an attention mask.

    position_ids follow what transformers' generate() derives for left
    padding: cumsum(mask) - 1, with pad slots clipped to 0.  They are passed
    explicitly so the fixture does not depend on that default.
    """
    L = max(BATCH_LENGTHS)
    input_ids = [[PAD_ID] * (L - len(p)) + p for p in BATCH_PROMPTS]
    mask = [[0] * (L - len(p)) + [1] * len(p) for p in BATCH_PROMPTS]
    mask_t = torch.tensor(mask)
    pos_t = (mask_t.cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=torch.tensor(input_ids),
        attention_mask=mask_t,
        position_ids=pos_t,
        use_cache=False,
    ).logits
    prompts = []
    for b, p in enumerate(BATCH_PROMPTS):
        real = logits[b, L - len(p):]
        alone = logits_of(model, p)
        diff = (real - alone).abs().max().item()
        assert diff < 1e-4, f"batch row {b} differs from unbatched by {diff}"
        prompts.append({"ids": p, **result_block(real), "max_abs_diff_vs_unbatched": r7(diff)})
    return {
        "pad_id": PAD_ID,
        "padding_side": "left",
        "lengths": BATCH_LENGTHS,
        "input_ids": input_ids,
        "attention_mask": mask,
        "position_ids": pos_t.tolist(),
        "prompts": prompts,
    }


@torch.no_grad()
def run_positions(model) -> dict:
    """YARN_IDS at explicit position_ids (one uncached forward each).

    far:    40000..40015 (beyond the 32768 original context)
    near:   0..15
    spread: 0, 2667, 5334, ..., 40005 (strictly increasing, gaps of 2667)

    RoPE only sees *relative* positions, so far and near agree up to the f32
    rounding of position * inv_freq at large angles (~1e-4): that pair checks
    the angle arithmetic, not the frequencies.  spread makes query/key
    distances reach 40005, where the low (YaRN-interpolated) frequencies
    matter, so it is the block that tells YaRN inv_freq apart from plain
    rope.  Note position_ids, not token order, decide the rotation; the
    causal mask still follows token order.
    """
    tensors = {gguf_name(n): v.detach().numpy() for n, v in model.state_dict().items()}
    block = {"ids": YARN_IDS}
    for key, pos in [
        ("far", list(range(FAR_START, FAR_START + YARN_LEN))),
        ("near", list(range(YARN_LEN))),
        ("spread", [i * SPREAD_STEP for i in range(YARN_LEN)]),
    ]:
        logits = logits_of(model, YARN_IDS, pos)
        # Independent float64 reference (own YaRN formula, own attention).
        # transformers computes position * inv_freq in f32, so at ~40000 the
        # angles carry ~4e-3 rad of rounding and the logits ~1e-3 of noise.
        ref = numpy_gguf_forward(tensors, model.config, YARN_IDS, pos)
        d = float(np.abs(ref - logits.numpy()).max())
        assert d < 5e-3, f"{key}: float64 reference differs by {d}"
        block[key] = {"position_ids": pos, **result_block(logits), "max_abs_diff_vs_f64_reference": r7(d)}
    return block


def rope_block(model) -> dict:
    rot = model.model.rotary_emb
    cfg = model.config
    return {
        "rope_parameters": dict(sorted(cfg.rope_parameters.items())),
        "inv_freq": r7list(rot.inv_freq),
        "attention_scaling": r7(rot.attention_scaling),
    }


def config_summary(cfg) -> dict:
    keys = [
        "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps",
        "max_position_embeddings", "tie_word_embeddings",
    ]
    return {k: getattr(cfg, k) for k in keys}


# --------------------------------------------------------------------------
# Hub-layout config.json (what real Qwen/Qwen3-* checkpoints ship)
# --------------------------------------------------------------------------


def write_hub_config(model_dir: Path) -> None:
    """Rewrite a transformers-5 config.json in the layout of the Hub's Qwen3
    checkpoints: rope_theta top-level, rope_scaling (null or the YaRN dict
    without rope_theta), torch_dtype instead of dtype, no layer_types.
    transformers 5 reads this back into the same rope_parameters (checked
    by the caller)."""
    path = model_dir / "config.json"
    cfg = json.loads(path.read_text())
    rope = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = None if rope.get("rope_type") == "default" else rope
    cfg["torch_dtype"] = cfg.pop("dtype")
    cfg.pop("layer_types", None)
    path.write_text(json.dumps(dict(sorted(cfg.items())), indent=2) + "\n")


# --------------------------------------------------------------------------
# GGUF (llama.cpp layout)
# --------------------------------------------------------------------------


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's LlamaModel.permute (convert_hf_to_gguf.py), for q (n_head =
    num_attention_heads) and k (n_head = num_key_value_heads).

    HF Llama checkpoints are laid out for rotate_half rope: inside each head
    of head_dim d, component j is rotated together with component j + d/2.
    llama.cpp's "llama" arch uses the original interleaved rope
    (LLAMA_ROPE_TYPE_NORM): components 2i and 2i+1 form a pair.  The
    converter therefore reorders the output rows of q_proj/k_proj within each
    head: new row 2i <- old row i, new row 2i+1 <- old row i + d/2.  The
    logits do not change; only the weight layout and the rope kernel do.

    Qwen3 is NOT permuted: llama.cpp runs qwen3 with NEOX rope
    (LLAMA_ROPE_TYPE_NEOX), which pairs j with j + d/2 exactly like HF's
    rotate_half, so attn_q/attn_k and attn_q_norm/attn_k_norm keep the HF
    layout.
    """
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of permute_qk."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


HF_TO_GGUF = {
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf: str) -> str:
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    _, _, layer, rest = hf.split(".", 3)  # model.layers.N.<rest>
    return f"blk.{layer}.{HF_TO_GGUF[rest]}"


def add_synthetic_vocab(w: GGUFWriter, arch: str) -> None:
    """A made-up 512-token vocabulary so the file carries the tokenizer.ggml.*
    keys llama.cpp expects.  The ids mean nothing; the engine's tests feed ids
    directly.  llama: SentencePiece-style ("llama" model: <unk> <s> </s>, 256
    byte tokens, then "▁tNNN"); qwen3: GPT-2 byte-level BPE ("gpt2" model,
    pre "qwen2": 256 byte symbols, 253 two-letter merges, 3 specials)."""
    if arch == "llama":
        tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
        types = [2, 3, 3] + [6] * 256
        tokens += [f"\u2581t{i:03d}" for i in range(VOCAB - len(tokens))]
        types += [1] * (VOCAB - len(types))
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores([float(-i) for i in range(VOCAB)])
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
    else:
        # GPT-2's bytes_to_unicode table.
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
        cs, n = bs[:], 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        byte_syms = [chr(c) for c in cs]
        letters = "abcdefghijklmnop"
        n_merges = VOCAB - 256 - 3
        pairs = [(a, b) for a in letters for b in letters][:n_merges]
        tokens = byte_syms + [a + b for a, b in pairs] + ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        types = [1] * (VOCAB - 3) + [3, 3, 3]
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges([f"{a} {b}" for a, b in pairs])
        w.add_eos_token_id(VOCAB - 1)
        w.add_pad_token_id(VOCAB - 3)
        w.add_bos_token_id(VOCAB - 3)


def write_gguf(model, arch: str, path: Path) -> None:
    """Write `model` as a llama.cpp-style Q8_0 GGUF.

    Metadata mirrors convert_hf_to_gguf.py (TextModel + LlamaModel /
    Qwen3Model): {arch}.context_length, embedding_length, block_count,
    feed_forward_length, attention.head_count, attention.head_count_kv,
    rope.freq_base, attention.layer_norm_rms_epsilon, attention.key_length,
    attention.value_length, rope.dimension_count, vocab_size;
    general.file_type = 7 (MOSTLY_Q8_0), general.quantization_version = 2.

    Tensors: every 2-D matrix (embeddings included) is Q8_0, quantised by
    gguf.quants.quantize (bit-exact with ggml's quantize_row_q8_0: blocks of
    32 along each row, d = max|x|/127 stored as f16, qs = round(x/d) as int8);
    1-D norm weights stay F32.  Shapes in GGUF are reversed (ne[0] = the row
    length = HF in_features).  For llama, attn_q/attn_k rows are permuted
    (permute_qk).  Tied models (qwen3) have no output.weight: llama.cpp then
    uses token_embd.weight as the output matrix.
    """
    cfg = model.config
    w = GGUFWriter(str(path), arch)
    w.add_name(f"zhishu tiny {arch} (random weights, test fixture)")
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
    add_synthetic_vocab(w, arch)

    sd = model.state_dict()
    names = [n for n in sd if not (cfg.tie_word_embeddings and n == "lm_head.weight")]
    # llama.cpp order: token_embd, blocks in order, output_norm, output.
    def order(n: str):
        if n == "model.embed_tokens.weight":
            return (0, 0, "")
        if n.startswith("model.layers."):
            return (1, int(n.split(".")[2]), gguf_name(n))
        return (2, 0 if n == "model.norm.weight" else 1, "")
    for name in sorted(names, key=order):
        data = sd[name].detach().cpu().numpy().astype(np.float32)
        if arch == "llama" and name.endswith("q_proj.weight"):
            data = permute_qk(data, cfg.num_attention_heads)
        elif arch == "llama" and name.endswith("k_proj.weight"):
            data = permute_qk(data, cfg.num_key_value_heads)
        if data.ndim == 2:
            assert data.shape[1] % 32 == 0, f"{name}: row length {data.shape[1]} not a multiple of 32"
            q = gguf.quants.quantize(data, GGMLQuantizationType.Q8_0)
            w.add_tensor(gguf_name(name), q, raw_dtype=GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(gguf_name(name), data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def read_gguf(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """Dequantised tensors (as [out, in] float32) and a 'name type ne' listing."""
    r = GGUFReader(str(path))
    tensors, listing = {}, []
    for t in r.tensors:
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        tensors[t.name] = np.asarray(arr, dtype=np.float32).reshape(list(reversed(t.shape.tolist())))
        listing.append(f"{t.name} {t.tensor_type.name} ne={t.shape.tolist()}")
    return tensors, listing


def hf_state_from_gguf(tensors: dict[str, np.ndarray], model) -> dict[str, torch.Tensor]:
    """Map dequantised GGUF tensors back to HF names, undoing the q/k permutation."""
    cfg = model.config
    arch = cfg.model_type
    sd = {}
    for name in model.state_dict():
        if cfg.tie_word_embeddings and name == "lm_head.weight":
            src = tensors["token_embd.weight"]
        else:
            src = tensors[gguf_name(name)]
        if arch == "llama" and name.endswith("q_proj.weight"):
            src = unpermute_qk(src, cfg.num_attention_heads)
        elif arch == "llama" and name.endswith("k_proj.weight"):
            src = unpermute_qk(src, cfg.num_key_value_heads)
        sd[name] = torch.from_numpy(src.copy())
    return sd


def rope_inv_freq_f64(cfg) -> tuple[np.ndarray, float]:
    """inv_freq and attention scaling, recomputed in float64 from the config
    alone (independently of transformers), for "default" and "yarn".

    YaRN, as in transformers' _compute_yarn_parameters with its defaults
    (beta_fast 32, beta_slow 1, truncate true, no attention_factor/mscale):
      dim = head_dim, base = rope_theta, s = factor, L = original_max_pos
      corr(r) = dim * ln(L / (2*pi*r)) / (2 * ln(base))
      low = max(floor(corr(32)), 0), high = min(ceil(corr(1)), dim - 1)
      ramp_i = clamp((i - low) / (high - low), 0, 1),  i = 0 .. dim/2 - 1
      inv_freq_i = (1/base^(2i/dim)) * (1 - ramp_i) + (1/(s*base^(2i/dim))) * ramp_i
      attention_scaling = 0.1 * ln(s) + 1  (multiplies both cos and sin)
    """
    rp = cfg.rope_parameters
    dim, base = cfg.head_dim, float(rp["rope_theta"])
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    if rp["rope_type"] == "default":
        return 1.0 / pos_freqs, 1.0
    assert rp["rope_type"] == "yarn"
    s, L = float(rp["factor"]), float(rp["original_max_position_embeddings"])

    def corr(r):
        return dim * math.log(L / (2 * math.pi * r)) / (2 * math.log(base))

    low, high = max(math.floor(corr(32)), 0), min(math.ceil(corr(1)), dim - 1)
    ramp = np.clip((np.arange(dim // 2) - low) / (high - low), 0.0, 1.0)
    inv = (1.0 / pos_freqs) * (1.0 - ramp) + (1.0 / (s * pos_freqs)) * ramp
    return inv, 0.1 * math.log(s) + 1.0


def numpy_gguf_forward(t: dict[str, np.ndarray], cfg, ids: list[int],
                       positions: list[int] | None = None) -> np.ndarray:
    """A float64 forward pass that reads the GGUF tensors *as llama.cpp does*:
    permuted q/k + interleaved rope (llama), or NEOX rope + per-head q/k norm
    before rope (qwen3).  Agreement with transformers proves the layout.
    Also used, on unquantised weights, as an independent check of the rope
    (YaRN included) at explicit positions."""
    arch = cfg.model_type
    nh, nkv, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    eps = cfg.rms_norm_eps
    T = len(ids)
    f = {k: v.astype(np.float64) for k, v in t.items()}

    def rms(x, wgt):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * wgt

    inv, scale = rope_inv_freq_f64(cfg)                   # [hd/2]
    pos = np.arange(T) if positions is None else np.asarray(positions)
    ang = pos[:, None].astype(np.float64) * inv[None, :]  # [T, hd/2]
    cos, sin = scale * np.cos(ang)[:, None, :], scale * np.sin(ang)[:, None, :]

    def rope(x):  # x [T, heads, hd]
        if arch == "llama":   # interleaved pairs (2i, 2i+1)
            a, b = x[..., 0::2], x[..., 1::2]
            out = np.empty_like(x)
            out[..., 0::2] = a * cos - b * sin
            out[..., 1::2] = a * sin + b * cos
            return out
        a, b = x[..., : hd // 2], x[..., hd // 2:]       # NEOX pairs (i, i+hd/2)
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)

    x = f["token_embd.weight"][ids]
    causal = np.triu(np.full((T, T), -np.inf), 1)
    for L in range(cfg.num_hidden_layers):
        p = lambda n: f[f"blk.{L}.{n}.weight"]
        h = rms(x, p("attn_norm"))
        q = (h @ p("attn_q").T).reshape(T, nh, hd)
        k = (h @ p("attn_k").T).reshape(T, nkv, hd)
        v = (h @ p("attn_v").T).reshape(T, nkv, hd)
        if arch == "qwen3":
            q, k = rms(q, p("attn_q_norm")), rms(k, p("attn_k_norm"))
        q, k = rope(q), rope(k)
        out = np.empty((T, nh, hd))
        for hq in range(nh):
            kv = hq // (nh // nkv)
            s = q[:, hq] @ k[:, kv].T / np.sqrt(hd) + causal
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, hq] = (s / s.sum(-1, keepdims=True)) @ v[:, kv]
        x = x + out.reshape(T, nh * hd) @ p("attn_output").T
        h = rms(x, p("ffn_norm"))
        g = h @ p("ffn_gate").T
        x = x + ((g / (1 + np.exp(-g))) * (h @ p("ffn_up").T)) @ p("ffn_down").T
    x = rms(x, f["output_norm.weight"])
    out_w = f.get("output.weight", f["token_embd.weight"])
    return x @ out_w.T


def run_gguf(model, arch: str, path: Path, f32_full: torch.Tensor) -> tuple[dict, list[str]]:
    write_gguf(model, arch, path)
    tensors, listing = read_gguf(path)
    deq = type(model)(model.config).eval()
    deq.load_state_dict(hf_state_from_gguf(tensors, model))
    logits = logits_of(deq, PROMPT)
    ref = numpy_gguf_forward(tensors, model.config, PROMPT)
    d_ref = float(np.abs(ref - logits.numpy().astype(np.float64)).max())
    assert d_ref < 1e-4, f"{arch}: numpy GGUF-layout forward differs from HF by {d_ref}"
    d_f32 = (logits - f32_full).abs().max().item()
    block = {
        "file": path.name,
        "ids": PROMPT,
        **result_block(logits),
        "max_abs_diff_vs_f32": r7(d_f32),
        "max_abs_diff_numpy_ref": r7(d_ref),
    }
    return block, listing


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def save_model(model, out_dir: Path, **kw) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model.save_pretrained(out_dir, **kw)


def reload_check(model_dir: Path, ref: torch.Tensor, expect_rope: dict) -> None:
    """from_pretrained the written folder and check it reproduces `ref`."""
    m = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager").eval()
    assert dict(m.config.rope_parameters) == expect_rope, (m.config.rope_parameters, expect_rope)
    d = (logits_of(m, PROMPT) - ref).abs().max().item()
    assert d == 0.0, f"{model_dir.name}: reloaded model differs by {d}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("services/engine/tests/fixtures"))
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)

    layouts: dict[str, list[str]] = {}

    # ---- Qwen3 -----------------------------------------------------------
    qwen = Qwen3ForCausalLM._from_config(qwen3_config(False), attn_implementation="eager").eval()
    init_weights_(qwen, seed=1)
    save_model(qwen, out / "tiny-qwen3")
    write_hub_config(out / "tiny-qwen3")

    full_block, full = run_full(qwen)
    qwen_json = {
        "model": "tiny-qwen3",
        "config": config_summary(qwen.config),
        "vocab_size": VOCAB,
        "head_vocab": HEAD_VOCAB,
        "rope": rope_block(qwen),
        "full": full_block,
        "incremental": run_incremental(qwen, full),
        "batch": run_batch(qwen),
        "far_positions": run_positions(qwen),
    }
    qwen_json["gguf_q8_0"], layouts["tiny-qwen3-q8_0.gguf"] = run_gguf(
        qwen, "qwen3", out / "tiny-qwen3-q8_0.gguf", full)
    dump_json(qwen_json, out / "tiny_qwen3_logits.json")
    reload_check(out / "tiny-qwen3", full, dict(qwen.config.rope_parameters))

    # ---- Qwen3 + YaRN (same weights) --------------------------------------
    yarn = Qwen3ForCausalLM._from_config(qwen3_config(True), attn_implementation="eager").eval()
    yarn.load_state_dict(qwen.state_dict())
    save_model(yarn, out / "tiny-qwen3-yarn")
    write_hub_config(out / "tiny-qwen3-yarn")

    yfull_block, yfull = run_full(yarn)
    yarn_json = {
        "model": "tiny-qwen3-yarn",
        "config": config_summary(yarn.config),
        "vocab_size": VOCAB,
        "head_vocab": HEAD_VOCAB,
        "rope": rope_block(yarn),
        "yarn": run_positions(yarn),
        "full": yfull_block,
        "incremental": run_incremental(yarn, yfull),
        "batch": run_batch(yarn),
    }
    dump_json(yarn_json, out / "tiny_qwen3_yarn_logits.json")
    reload_check(out / "tiny-qwen3-yarn", yfull, dict(yarn.config.rope_parameters))

    # ---- Llama -----------------------------------------------------------
    llama = LlamaForCausalLM._from_config(llama_config(), attn_implementation="eager").eval()
    init_weights_(llama, seed=2)
    save_model(llama, out / "tiny-llama")
    # ~560 KB of f32 weights; 200 KB shards give 3 files.
    save_model(llama, out / "tiny-llama-sharded", max_shard_size="200KB")

    lfull_block, lfull = run_full(llama)
    llama_json = {
        "model": "tiny-llama",
        "config": config_summary(llama.config),
        "vocab_size": VOCAB,
        "head_vocab": HEAD_VOCAB,
        "rope": rope_block(llama),
        "full": lfull_block,
        "incremental": run_incremental(llama, lfull),
        "batch": run_batch(llama),
    }
    llama_json["gguf_q8_0"], layouts["tiny-llama-q8_0.gguf"] = run_gguf(
        llama, "llama", out / "tiny-llama-q8_0.gguf", lfull)
    dump_json(llama_json, out / "tiny_llama_logits.json")
    reload_check(out / "tiny-llama", lfull, dict(llama.config.rope_parameters))
    reload_check(out / "tiny-llama-sharded", lfull, dict(llama.config.rope_parameters))
    shards = sorted(p.name for p in (out / "tiny-llama-sharded").glob("*.safetensors"))
    assert len(shards) >= 2, shards

    # ---- VERSIONS.txt ------------------------------------------------------
    lines = [
        "# Produced by scripts/engine_fixtures.py with:",
        f"python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"transformers {transformers.__version__}",
        f"safetensors {safetensors.__version__}",
        f"gguf {gguf_version()}",
        f"numpy {np.__version__}",
        "command: /work/venv-fixtures/bin/python scripts/engine_fixtures.py",
        "torch threads 1, CPU, float32, attn_implementation eager, deterministic algorithms",
        f"tiny-llama-sharded shards: {' '.join(shards)}",
        "",
        "# GGUF tensors (name, type, ne = GGUF shape, innermost first)",
    ]
    for f, listing in layouts.items():
        lines.append(f"[{f}]")
        lines.extend(listing)
    (out / "VERSIONS.txt").write_text("\n".join(lines) + "\n")
    print(f"fixtures written to {out}")
    return 0


def gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    sys.exit(main())
