#!/usr/bin/env python3
"""PEFT LoRA adapters for a base model, and the base with each adapter
merged, for the engine's LoRA tests (services/engine/tests/lora.rs, #26).

Usage:
  python3 scripts/lora_fixtures.py BASE_DIR OUT_DIR
      BASE_DIR: a float32 safetensors model folder (config.json and
      model.safetensors). Writes OUT_DIR/{x,y} (adapters) and
      OUT_DIR/{x,y}-merged (the base with W + B·A·s, s = alpha/r, or
      alpha/sqrt(r) with rsLoRA, computed here in double precision).
  python3 scripts/lora_fixtures.py --shape H,L,NH,NKV,HD,I NAME OUT_DIR
      adapters only, for a base of that shape named NAME (no twin).

Standard library only. The adapters are written as PEFT saves them:
adapter_config.json (peft_type LORA, r, lora_alpha, use_rslora,
target_modules, base_model_name_or_path) and adapter_model.safetensors with
`base_model.model.model.layers.{i}.{self_attn|mlp}.{proj}.lora_{A|B}.weight`,
A [r, in] and B [out, r] in float32.

  x: r 4, alpha 8, q_proj, v_proj and down_proj of every layer;
  y: r 8, alpha 16, rsLoRA, all seven projections.
Deterministic: fixed seeds.
"""

import json
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quant_fixtures import save, tensor  # noqa: E402  (the safetensors writer)

ADAPTERS = {
    "x": {"r": 4, "alpha": 8, "rslora": False, "targets": ["q_proj", "v_proj", "down_proj"]},
    "y": {"r": 8, "alpha": 16, "rslora": True,
          "targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
}
BLOCK = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn",
         "o_proj": "self_attn", "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit("%s: %s is %s; the base must be float32" % (path, name, info["dtype"]))
        a, b = info["data_offsets"]
        out[name] = (info["shape"], list(struct.unpack("<%df" % ((b - a) // 4), data[a:b])))
    return out


def write_safetensors(path, tensors):
    """tensors: name -> (shape, float values), written as float32."""
    save(path, {name: tensor("F32", shape, values) for name, (shape, values) in tensors.items()})


def shapes(hidden, layers, heads, kv_heads, head_dim, inter):
    """(layer, proj) -> (out, in)."""
    dims = {"q_proj": (heads * head_dim, hidden), "k_proj": (kv_heads * head_dim, hidden),
            "v_proj": (kv_heads * head_dim, hidden), "o_proj": (hidden, heads * head_dim),
            "gate_proj": (inter, hidden), "up_proj": (inter, hidden), "down_proj": (hidden, inter)}
    return {(i, p): dims[p] for i in range(layers) for p in dims}


def make_adapter(name, spec, dims, base_name, out_dir, rng):
    """Writes the adapter; returns {(layer, proj): (A, B, scale)}."""
    r = spec["r"]
    scale = spec["alpha"] / (math.sqrt(r) if spec["rslora"] else r)
    tensors, pairs = {}, {}
    for (layer, proj), (rows, cols) in sorted(dims.items()):
        if proj not in spec["targets"]:
            continue
        a = [rng.gauss(0.0, 0.15) for _ in range(r * cols)]
        b = [rng.gauss(0.0, 0.15) for _ in range(rows * r)]
        prefix = "base_model.model.model.layers.%d.%s.%s" % (layer, BLOCK[proj], proj)
        tensors[prefix + ".lora_A.weight"] = ([r, cols], a)
        tensors[prefix + ".lora_B.weight"] = ([rows, r], b)
        pairs[(layer, proj)] = (a, b, scale)
    path = os.path.join(out_dir, name)
    os.makedirs(path, exist_ok=True)
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": spec["alpha"],
              "use_rslora": spec["rslora"], "target_modules": spec["targets"],
              "base_model_name_or_path": base_name, "lora_dropout": 0.0, "bias": "none",
              "fan_in_fan_out": False, "modules_to_save": None, "use_dora": False,
              "rank_pattern": {}, "alpha_pattern": {}, "inference_mode": True}
    with open(os.path.join(path, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=1, sort_keys=True)
    write_safetensors(os.path.join(path, "adapter_model.safetensors"), tensors)
    return pairs


def merge(base, pairs, r):
    merged = dict(base)
    for (layer, proj), (a, b, scale) in pairs.items():
        name = "model.layers.%d.%s.%s.weight" % (layer, BLOCK[proj], proj)
        (rows, cols), w = base[name]
        w = list(w)
        for i in range(rows):
            bi = b[i * r:(i + 1) * r]
            for j in range(cols):
                w[i * cols + j] += scale * sum(bi[k] * a[k * cols + j] for k in range(r))
        merged[name] = ([rows, cols], w)
    return merged


def main(argv):
    if len(argv) == 4 and argv[0] == "--shape":
        dims = shapes(*(int(x) for x in argv[1].split(",")))
        for name, spec in ADAPTERS.items():
            make_adapter(name, spec, dims, argv[2], argv[3], random.Random("lora-" + name))
        return
    if len(argv) != 2:
        sys.exit(__doc__)
    base_dir, out_dir = argv
    with open(os.path.join(base_dir, "config.json")) as f:
        config = json.load(f)
    base = read_safetensors(os.path.join(base_dir, "model.safetensors"))
    dims = shapes(config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
                  config.get("num_key_value_heads", config["num_attention_heads"]),
                  config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"],
                  config["intermediate_size"])
    base_name = os.path.basename(os.path.normpath(base_dir))
    for name, spec in ADAPTERS.items():
        pairs = make_adapter(name, spec, dims, base_name, out_dir, random.Random("lora-" + name))
        path = os.path.join(out_dir, name + "-merged")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config, f, indent=1, sort_keys=True)
        write_safetensors(os.path.join(path, "model.safetensors"), merge(base, pairs, spec["r"]))


if __name__ == "__main__":
    main(sys.argv[1:])
