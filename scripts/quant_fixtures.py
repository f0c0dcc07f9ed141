#!/usr/bin/env python3
"""Tiny quantised Qwen3 checkpoints, each beside a float twin, for the
engine's quantisation tests (services/engine/tests/quant.rs, issue #26).

Usage:  python3 scripts/quant_fixtures.py OUT_DIR

Standard library only (no numpy, torch or the quantisers), so the tests run
it on any machine. Every checkpoint is written from the format's published
layout, not from the engine's reader:

  awq/            AutoAWQ GEMM: qweight [in, out/8] int32 whose 8 nibbles
                  hold output features 8j + AWQ_ORDER[p] at bits 4p,
                  qzeros packed the same way, scales [in/g, out] f16; group 32.
  gptq-act-order/ AutoGPTQ v1 ("gptq"), 4 bits, symmetric, desc_act: g_idx
                  is a shuffled grouping, qweight [in/8, out] packed along the
                  input in natural order, qzeros stored minus one; group 32.
  gptq-8bit/      GPTQModel v2 ("gptq_v2"), 8 bits, asymmetric, group 64.
  fp8/            Qwen's FP8 layout: e4m3 weights, weight_scale_inv per
                  block; blocks of 48 x 64 here (Qwen uses 128 x 128), so
                  every matrix has several blocks each way and partial
                  blocks at the edges, and a swapped index would show.
  ct-w4a16/       compressed-tensors pack-quantized: weight_packed [out, in/8]
                  int32 of signed values + 8, weight_scale [out, in/32] bf16.
  ct-w4a16-act-order/ the same with llm-compressor's act order: a shuffled
                  weight_g_idx (each input feature's group).
  ct-w8a16/       the same with 8 bits, one scale per output row.
  ct-fp8/         compressed-tensors float-quantized, per-row f16 scales.
  ct-fp8-block/   the same with 64 x 32 blocks (weight_scale per block).
  ct-fp8-tensor/  the same with one scale per tensor.

Each NAME/ has a NAME-float/ twin: the same model with every quantised
matrix replaced by its dequantised value, (q - zero) * scale, computed here
from the numbers that were packed. The engine must give the twin's logits.

Shape: hidden 64, 2 layers, 4 query / 2 key-value heads of 16, MLP 128,
vocabulary 512, tied embeddings (the shape of tests/fixtures/tiny-qwen3).
Deterministic: a fixed seed, byte-identical output on every run.
"""

import json
import math
import os
import random
import struct
import sys

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, INTER, VOCAB = 64, 2, 4, 2, 16, 128, 512

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


# --- number formats ---------------------------------------------------------

def f16(x):
    """x rounded to IEEE half precision."""
    return struct.unpack("<e", struct.pack("<e", x))[0]


def bf16_bits(x):
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


def bf16(x):
    return struct.unpack("<f", struct.pack("<I", bf16_bits(x) << 16))[0]


def e4m3_value(code):
    """The value of an e4m3fn byte (OCP FP8 specification)."""
    sign = -1.0 if code & 0x80 else 1.0
    exp, mant = (code >> 3) & 0xF, code & 7
    if exp == 0:
        return sign * mant / 8.0 * 2.0 ** -6
    return sign * (1.0 + mant / 8.0) * 2.0 ** (exp - 7)


E4M3 = sorted((e4m3_value(c), c) for c in range(0x7F))  # non-negative codes


def e4m3(x):
    """The e4m3fn byte nearest to x (saturating at 448)."""
    mag = min(abs(x), 448.0)
    lo, hi = 0, len(E4M3) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if E4M3[mid][0] < mag:
            lo = mid + 1
        else:
            hi = mid
    best = min((E4M3[i] for i in (lo - 1, lo) if 0 <= i < len(E4M3)),
               key=lambda vc: abs(vc[0] - mag))
    code = best[1]
    return code | 0x80 if x < 0 and code else code


# --- safetensors ------------------------------------------------------------

PACK = {"F32": "<%df", "F16": "<%de", "I32": "<%di", "I64": "<%dq"}


def tensor(dtype, shape, values):
    if dtype == "BF16":
        data = struct.pack("<%dH" % len(values), *(bf16_bits(v) for v in values))
    elif dtype in ("U8", "F8_E4M3"):
        data = bytes(values)
    else:
        data = struct.pack(PACK[dtype] % len(values), *values)
    return (dtype, list(shape), data)


def save(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# --- the float model --------------------------------------------------------

def matrices():
    """Each projection's name and [out, in] shape."""
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        yield p + "self_attn.q_proj", HEADS * HEAD_DIM, HIDDEN
        yield p + "self_attn.k_proj", KV_HEADS * HEAD_DIM, HIDDEN
        yield p + "self_attn.v_proj", KV_HEADS * HEAD_DIM, HIDDEN
        yield p + "self_attn.o_proj", HIDDEN, HEADS * HEAD_DIM
        yield p + "mlp.gate_proj", INTER, HIDDEN
        yield p + "mlp.up_proj", INTER, HIDDEN
        yield p + "mlp.down_proj", HIDDEN, INTER


def float_model(rng):
    weights = {}
    for name, rows, cols in matrices():
        weights[name] = [[rng.gauss(0.0, 0.08) for _ in range(cols)] for _ in range(rows)]
    # Dense tensors are stored in f16 in the quantised checkpoints (as the
    # publishers do), so their values are f16 numbers in both.
    dense = {"model.embed_tokens.weight": ([VOCAB, HIDDEN],
                                           [f16(rng.gauss(0.0, 0.5)) for _ in range(VOCAB * HIDDEN)]),
             "model.norm.weight": ([HIDDEN], [f16(1.0 + rng.gauss(0, 0.1)) for _ in range(HIDDEN)])}
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        for n, size in (("input_layernorm", HIDDEN), ("post_attention_layernorm", HIDDEN),
                        ("self_attn.q_norm", HEAD_DIM), ("self_attn.k_norm", HEAD_DIM)):
            dense[p + n + ".weight"] = ([size], [f16(1.0 + rng.gauss(0, 0.1)) for _ in range(size)])
    return weights, dense


def config(quantization):
    c = {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "attention_bias": False, "bos_token_id": 1, "eos_token_id": 2,
        "head_dim": HEAD_DIM, "hidden_act": "silu", "hidden_size": HIDDEN,
        "intermediate_size": INTER, "max_position_embeddings": 40960,
        "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS, "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0, "tie_word_embeddings": True,
        "torch_dtype": "float16", "vocab_size": VOCAB,
    }
    if quantization is not None:
        c["quantization_config"] = quantization
    return c


# --- quantisers: each returns (tensors for the checkpoint, dequantised [out][in]) ---

def asym(values, levels):
    """Scale and zero point of an asymmetric group over 0..levels-1."""
    lo, hi = min(min(values), 0.0), max(max(values), 0.0)
    scale = (hi - lo) / (levels - 1) or 1e-4
    zero = min(max(round(-lo / scale), 0), levels - 1)
    return scale, zero


def awq(w, group):
    rows, cols = len(w), len(w[0])
    q = [[0] * rows for _ in range(cols)]  # [in][out]
    zeros = [[0] * rows for _ in range(cols // group)]
    scales = [[0.0] * rows for _ in range(cols // group)]
    deq = [[0.0] * cols for _ in range(rows)]
    for r in range(rows):
        for g in range(cols // group):
            vals = w[r][g * group:(g + 1) * group]
            scale, zero = asym(vals, 16)
            scale = f16(scale)
            scales[g][r], zeros[g][r] = scale, zero
            for j, v in enumerate(vals):
                c = g * group + j
                q[c][r] = min(max(round(v / scale) + zero, 0), 15)
                deq[r][c] = (q[c][r] - zero) * scale

    def pack(m):  # [x][out] -> [x][out/8], AWQ order
        out = []
        for row in m:
            for j in range(rows // 8):
                word = 0
                for p in range(8):
                    word |= row[8 * j + AWQ_ORDER[p]] << (4 * p)
                out.append(word - (1 << 32) if word >= 1 << 31 else word)
        return out

    return {
        "qweight": tensor("I32", [cols, rows // 8], pack(q)),
        "qzeros": tensor("I32", [cols // group, rows // 8], pack(zeros)),
        "scales": tensor("F16", [cols // group, rows], [s for row in scales for s in row]),
    }, deq


def pack_along_input(q, bits):
    """GPTQ's qweight: q [in][out] -> [in/per][out], input 8i+j at bits*j."""
    per = 32 // bits
    out = []
    for i in range(len(q) // per):
        for o in range(len(q[0])):
            word = 0
            for j in range(per):
                word |= q[i * per + j][o] << (bits * j)
            out.append(word - (1 << 32) if word >= 1 << 31 else word)
    return out


def pack_along_output(z, bits):
    """GPTQ's qzeros: z [groups][out] -> [groups][out/per]."""
    per = 32 // bits
    out = []
    for row in z:
        for i in range(len(row) // per):
            word = 0
            for j in range(per):
                word |= (row[i * per + j] & ((1 << bits) - 1)) << (bits * j)
            out.append(word - (1 << 32) if word >= 1 << 31 else word)
    return out


def gptq(w, bits, group, sym, act_order, v1, rng):
    rows, cols = len(w), len(w[0])
    levels = 1 << bits
    if act_order:  # GPTQ quantises columns in a Hessian order; any order will do
        order = list(range(cols))
        rng.shuffle(order)
        g_idx = [0] * cols
        for pos, c in enumerate(order):
            g_idx[c] = pos // group
    else:
        g_idx = [c // group for c in range(cols)]
    groups = cols // group
    members = [[c for c in range(cols) if g_idx[c] == g] for g in range(groups)]
    q = [[0] * rows for _ in range(cols)]
    scales = [[0.0] * rows for _ in range(groups)]
    zeros = [[0] * rows for _ in range(groups)]
    deq = [[0.0] * cols for _ in range(rows)]
    for r in range(rows):
        for g in range(groups):
            vals = [w[r][c] for c in members[g]]
            if sym:
                amax = max(abs(v) for v in vals) or 1e-4
                scale, zero = 2 * amax / (levels - 1), levels // 2
            else:
                scale, zero = asym(vals, levels)
            scale = f16(scale)
            scales[g][r], zeros[g][r] = scale, zero
            for c in members[g]:
                q[c][r] = min(max(round(w[r][c] / scale) + zero, 0), levels - 1)
                deq[r][c] = (q[c][r] - zero) * scale
    stored = [[z - 1 for z in row] for row in zeros] if v1 else zeros
    return {
        "qweight": tensor("I32", [cols * bits // 32, rows], pack_along_input(q, bits)),
        "qzeros": tensor("I32", [groups, rows * bits // 32], pack_along_output(stored, bits)),
        "scales": tensor("F16", [groups, rows], [s for row in scales for s in row]),
        "g_idx": tensor("I32", [cols], g_idx),
    }, deq


def fp8(w, block, scale_name):
    """Qwen's FP8: one f32 scale per block of rows x columns."""
    rows, cols = len(w), len(w[0])
    br, bc = block
    nbr, nbc = -(-rows // br), -(-cols // bc)
    scales = [[0.0] * nbc for _ in range(nbr)]
    for i in range(nbr):
        for j in range(nbc):
            amax = max(abs(w[r][c]) for r in range(i * br, min(rows, (i + 1) * br))
                       for c in range(j * bc, min(cols, (j + 1) * bc)))
            scales[i][j] = struct.unpack("<f", struct.pack("<f", (amax / 448.0) or 1e-4))[0]
    codes, deq = [], [[0.0] * cols for _ in range(rows)]
    for r in range(rows):
        for c in range(cols):
            s = scales[r // br][c // bc]
            code = e4m3(w[r][c] / s)
            codes.append(code)
            deq[r][c] = e4m3_value(code) * s
    return {"weight": tensor("F8_E4M3", [rows, cols], codes),
            scale_name: tensor("F32", [nbr, nbc], [s for row in scales for s in row])}, deq


def fp8_per_row(w, scale_dtype):
    rows, cols = len(w), len(w[0])
    codes, deq, scales = [], [[0.0] * cols for _ in range(rows)], []
    for r in range(rows):
        s = (max(abs(v) for v in w[r]) / 448.0) or 1e-4
        s = f16(s) if scale_dtype == "F16" else bf16(s)
        scales.append(s)
        for c in range(cols):
            code = e4m3(w[r][c] / s)
            codes.append(code)
            deq[r][c] = e4m3_value(code) * s
    return {"weight": tensor("F8_E4M3", [rows, cols], codes),
            "weight_scale": tensor(scale_dtype, [rows, 1], scales)}, deq


def fp8_per_tensor(w):
    """One f32 scale for the whole matrix, stored as shape [1]."""
    rows, cols = len(w), len(w[0])
    amax = max(abs(v) for row in w for v in row)
    s = struct.unpack("<f", struct.pack("<f", (amax / 448.0) or 1e-4))[0]
    codes, deq = [], [[0.0] * cols for _ in range(rows)]
    for r in range(rows):
        for c in range(cols):
            code = e4m3(w[r][c] / s)
            codes.append(code)
            deq[r][c] = e4m3_value(code) * s
    return {"weight": tensor("F8_E4M3", [rows, cols], codes),
            "weight_scale": tensor("F32", [1], [s])}, deq


def packed_int(w, bits, group, rng=None):
    """compressed-tensors pack-quantized, symmetric; with `rng`, act order
    (a shuffled weight_g_idx: group of each input feature)."""
    rows, cols = len(w), len(w[0])
    group = group or cols
    per, qmax = 32 // bits, (1 << (bits - 1)) - 1
    g_idx = [c // group for c in range(cols)]
    if rng is not None:
        order = list(range(cols))
        rng.shuffle(order)
        for pos, c in enumerate(order):
            g_idx[c] = pos // group
    members = [[c for c in range(cols) if g_idx[c] == g] for g in range(cols // group)]
    words, scales, deq = [], [], [[0.0] * cols for _ in range(rows)]
    for r in range(rows):
        q = [0] * cols
        for g in range(cols // group):
            vals = [w[r][c] for c in members[g]]
            s = bf16((max(abs(v) for v in vals) / (qmax + 0.5)) or 1e-4)
            scales.append(s)
            for c in members[g]:
                x = min(max(round(w[r][c] / s), -qmax - 1), qmax)
                q[c] = x + (1 << (bits - 1))  # stored unsigned, offset by 2^(bits-1)
                deq[r][c] = x * s
        for i in range(cols // per):
            word = 0
            for j in range(per):
                word |= q[i * per + j] << (bits * j)
            words.append(word - (1 << 32) if word >= 1 << 31 else word)
    out = {"weight_packed": tensor("I32", [rows, cols // per], words),
           "weight_scale": tensor("BF16", [rows, cols // group], scales),
           "weight_shape": tensor("I64", [2], [rows, cols])}
    if rng is not None:
        out["weight_g_idx"] = tensor("I32", [cols], g_idx)
    return out, deq


def ct_config(fmt, weights):
    return {"quant_method": "compressed-tensors", "format": fmt,
            "quantization_status": "compressed", "ignore": ["lm_head"],
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights,
                                          "input_activations": None}}}


FORMATS = {
    "awq": ({"quant_method": "awq", "bits": 4, "group_size": 32, "version": "gemm",
             "zero_point": True, "modules_to_not_convert": None},
            lambda w, rng: awq(w, 32)),
    "gptq-act-order": ({"quant_method": "gptq", "bits": 4, "group_size": 32, "desc_act": True,
                        "sym": True, "checkpoint_format": "gptq"},
                       lambda w, rng: gptq(w, 4, 32, True, True, True, rng)),
    "gptq-8bit": ({"quant_method": "gptq", "bits": 8, "group_size": 64, "desc_act": False,
                   "sym": False, "checkpoint_format": "gptq_v2"},
                  lambda w, rng: gptq(w, 8, 64, False, False, False, rng)),
    "fp8": ({"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
             "weight_block_size": [48, 64]},
            lambda w, rng: fp8(w, (48, 64), "weight_scale_inv")),
    "ct-w4a16": (ct_config("pack-quantized", {"num_bits": 4, "type": "int", "symmetric": True,
                                              "strategy": "group", "group_size": 32}),
                 lambda w, rng: packed_int(w, 4, 32)),
    "ct-w4a16-act-order": (ct_config("pack-quantized", {"num_bits": 4, "type": "int",
                                                        "symmetric": True, "strategy": "group",
                                                        "group_size": 32, "actorder": "group"}),
                           lambda w, rng: packed_int(w, 4, 32, rng)),
    "ct-w8a16": (ct_config("pack-quantized", {"num_bits": 8, "type": "int", "symmetric": True,
                                              "strategy": "channel"}),
                 lambda w, rng: packed_int(w, 8, None)),
    "ct-fp8": (ct_config("float-quantized", {"num_bits": 8, "type": "float", "symmetric": True,
                                             "strategy": "channel"}),
               lambda w, rng: fp8_per_row(w, "F16")),
    "ct-fp8-block": (ct_config("float-quantized", {"num_bits": 8, "type": "float", "symmetric": True,
                                                   "strategy": "block", "block_structure": [64, 32]}),
                     lambda w, rng: fp8(w, (64, 32), "weight_scale")),
    "ct-fp8-tensor": (ct_config("float-quantized", {"num_bits": 8, "type": "float",
                                                    "symmetric": True, "strategy": "tensor"}),
                      lambda w, rng: fp8_per_tensor(w)),
}


def main(out):
    weights, dense = float_model(random.Random(26))
    for name, (quantization, quantise) in FORMATS.items():
        rng = random.Random(name)
        quant, twin = {}, {}
        for key, (shape, values) in dense.items():
            quant[key] = tensor("F16", shape, values)
            twin[key] = tensor("F32", shape, values)
        for module, rows, cols in matrices():
            tensors, deq = quantise(weights[module], rng)
            for suffix, t in tensors.items():
                quant[module + "." + suffix] = t
            twin[module + ".weight"] = tensor("F32", [rows, cols], [v for row in deq for v in row])
        for folder, tensors, q in ((name, quant, quantization), (name + "-float", twin, None)):
            path = os.path.join(out, folder)
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(config(q), f, indent=1, sort_keys=True)
            save(os.path.join(path, "model.safetensors"), tensors)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: quant_fixtures.py OUT_DIR")
    main(sys.argv[1])
