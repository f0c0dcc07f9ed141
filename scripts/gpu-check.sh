#!/usr/bin/env bash
# The device script: Zhishu's engine on one NVIDIA GPU (an H100/H200 with
# the CUDA driver, PyTorch and transformers; no Rust, no network), checked
# and measured in one run of under 8 minutes. Prints one table and writes
# gpu-check.json (to $OUT when set, else the current folder).
#
#   ./scripts/gpu-check.sh build   # on the build machine: compiles
#                                  # target/gpu-check/gpu_check.gz with
#                                  # --features cuda (nvcc from PyPI, as
#                                  # scripts/check-cuda.sh), stripped
#   ./scripts/gpu-check.sh         # on the GPU machine, from the checkout
#                                  # with target/gpu-check carried along
#
# What it runs (services/engine/benches/gpu_check.rs,
# scripts/gpu_baselines.py):
# 1. correctness: the tiny Qwen3 fixture on cuda:0 in f32 against the CPU
#    (logits within 1e-4 relative, same greedy tokens; contiguous caches
#    and the paged reference pool on the device), and in bf16 the same
#    greedy tokens while the top-2 margin is >= 0.1; the CUDA attention
#    kernels against the reference path; then the host memory a sharded
#    bf16 checkpoint takes on its way to the GPU, beside its largest shard;
# 2. the GPU's copy bandwidth and bf16 GEMM rate, and transformers
#    `generate` (bf16, sdpa) on a Qwen3-32B-shaped random model at batch 1
#    and a static batch of 16, and one 8K prefill;
# 3. Zhishu on the same shape (random bf16 weights made on the device)
#    through its serving engine: prefill at 8K and 32K, decode at batch 1,
#    16 and 64, KV capacity, and 64 concurrent 2,000-token prompts sharing
#    a 1,000-token prefix; then with 4-bit projections (the form AWQ and
#    GPTQ int4 take on GPUs; FP8 checkpoints are held in bf16 there, so the
#    bf16 rows are theirs);
# 4. the embedder: a bge-m3-shaped random model (scripts/gpu_encoders.py),
#    chunks/s through Zhishu's GPU encoder against transformers in bf16
#    with sentence-transformers' batching, same chunks.
# Steps 2 and 3 each hold the 65 GB model, one after the other.
#
# Environment: GPU_CHECK_LAYERS (default 64: Qwen3-32B; fewer keeps the
# width for a quick try), GPU_CHECK_SKIP_TORCH=1 skips step 2's model.
set -euo pipefail
cd "$(dirname "$0")/.."
# What travels to the GPU machine (gzipped: the carry limit is 64 MiB).
DIR=target/gpu-check

if [ "${1:-}" = "build" ]; then
    VENV=${ZHISHU_CUDA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/zhishu/venv-cuda}
    [ -x "$VENV/bin/python" ] || ./scripts/check-cuda.sh
    CUDA_ROOT=$("$VENV/bin/python" -c 'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
    export CUDA_ROOT CUDA_PATH="$CUDA_ROOT" PATH="$CUDA_ROOT/bin:$PATH"
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
    # candle links the CUDA libraries dynamically (cudarc's dynamic-linking).
    # PyPI's toolkit has the compiler, not cuBLAS, cuRAND, NVRTC, NCCL or
    # the driver: link against empty stand-ins carrying the real sonames
    # (CUDA 13), recorded as needed, and let the GPU machine's libraries
    # (driver, toolkit, PyTorch's nvidia-* wheels) provide the symbols.
    stubs=$PWD/target/gpu-check-stubs
    mkdir -p "$stubs"
    needed=""
    for pair in cuda:libcuda.so.1 nccl:libnccl.so.2 nvrtc:libnvrtc.so.13 curand:libcurand.so.10 \
        cublas:libcublas.so.13 cublasLt:libcublasLt.so.13 cudart:libcudart.so.13; do
        name=${pair%%:*}
        echo 'void zhishu_stub(void) {}' | cc -shared -x c - -o "$stubs/lib$name.so" -Wl,-soname,"${pair#*:}"
        needed="$needed,-l$name"
    done
    # Only the final link sees them (`cargo rustc`), not build scripts.
    json=$(mktemp)
    if ! cargo rustc --locked --release -p zhishu-engine --features cuda --bench gpu_check \
        --message-format=json -- -L "native=$stubs" \
        -C link-arg=-Wl,--unresolved-symbols=ignore-all \
        -C "link-arg=-Wl,--push-state,--no-as-needed${needed},--pop-state" > "$json"; then
        echo "gpu-check.sh: the device check did not build (the errors are above)" >&2
        exit 1
    fi
    exe=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu_check" and m.get("executable"):
        print(m["executable"])' "$json" | tail -n1)
    rm -f "$json"
    [ -n "$exe" ] || { echo "gpu-check.sh: cargo built no gpu_check executable" >&2; exit 1; }
    mkdir -p target/gpu-check
    rm -rf "$DIR" && mkdir -p "$DIR"
    strip -o "$DIR/gpu_check" "$exe"
    readelf -d "$DIR/gpu_check" | grep NEEDED
    gzip -9 "$DIR/gpu_check"
    # XLM-R's tokenizer for step 4 (the device machine has no network).
    assets=$(./scripts/fetch-assets.sh --print-dir)
    gzip -9c "$assets/models/multilingual-e5-small/tokenizer.json" > "$DIR/xlmr-tokenizer.json.gz"
    du -sh "$DIR"
    exit 0
fi

[ -f "$DIR/gpu_check.gz" ] || { echo "gpu-check.sh: $DIR/gpu_check.gz missing: run './scripts/gpu-check.sh build' on the build machine and carry $DIR" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
BIN=$work/gpu_check
gunzip -c "$DIR/gpu_check.gz" > "$BIN"
chmod +x "$BIN"
gunzip -c "$DIR/xlmr-tokenizer.json.gz" > "$work/xlmr-tokenizer.json"
# The CUDA libraries the binary needs: the toolkit's, then PyTorch's wheels.
libs=$(python3 - <<'EOF' 2>/dev/null || true
import glob, os
dirs = ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"]
try:
    import nvidia
    for root in nvidia.__path__:
        dirs += sorted(glob.glob(os.path.join(root, "*", "lib")))
except ImportError:
    pass
print(":".join(d for d in dirs if os.path.isdir(d)))
EOF
)
export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd "$BIN" | grep -q "not found"; then
    echo "gpu-check.sh: CUDA libraries missing for $BIN:" >&2
    ldd "$BIN" | grep "not found" >&2
    exit 1
fi
OUT=${OUT:-.}
LAYERS=${GPU_CHECK_LAYERS:-64}
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== 1. correctness (tiny Qwen3 fixture, cuda:0 vs CPU)" >&2
"$BIN" --model services/engine/tests/fixtures/tiny-qwen3 --device cuda:0 > "$work/correctness.json" \
    || echo '{"pass": false, "error": "the correctness check failed; see above"}' > "$work/correctness.json"

echo "== 1b. loading: host memory while a sharded bf16 checkpoint goes to cuda:0" >&2
timeout 120 "$PY" - "$work/ckpt" <<'EOF' && timeout 120 "$BIN" --load "$work/ckpt" --device cuda:0 > "$work/load.json" \
    || echo '{"error": "the loading check failed"}' > "$work/load.json"
import sys, torch
from transformers import AutoModelForCausalLM, Qwen3Config
# Qwen3-32B's width, two layers, in 1 GB shards (the embedding alone is 1.5 GB).
config = Qwen3Config(vocab_size=151936, hidden_size=5120, intermediate_size=25600,
    num_hidden_layers=2, num_attention_heads=64, num_key_value_heads=8, head_dim=128,
    tie_word_embeddings=False)
with torch.device("cuda"):
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
model.save_pretrained(sys.argv[1], max_shard_size="1GB", safe_serialization=True)
EOF
rm -rf "$work/ckpt"

echo "== 2. the GPU and transformers (${LAYERS} layers)" >&2
skip=()
[ "${GPU_CHECK_SKIP_TORCH:-0}" = 1 ] && skip=(--skip-transformers)
timeout 300 "$PY" scripts/gpu_baselines.py --layers "$LAYERS" "${skip[@]}" > "$work/baselines.json" \
    || echo '{"error": "gpu_baselines.py failed or ran out of time"}' > "$work/baselines.json"

echo "== 3. Zhishu on the same shape" >&2
config="$work/config.json"
"$PY" - "$LAYERS" > "$config" <<'EOF'
import json, sys
print(json.dumps({
    "architectures": ["Qwen3ForCausalLM"], "vocab_size": 151936,
    "hidden_size": 5120, "intermediate_size": 25600,
    "num_hidden_layers": int(sys.argv[1]), "num_attention_heads": 64,
    "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "max_position_embeddings": 40960,
    "tie_word_embeddings": False}))
EOF
timeout 300 "$BIN" --speed --device cuda:0 --config "$config" --prefill 8192,32768 \
    --batches 1,16,64 --serving 64:2000:1000:128 > "$work/zhishu.json" \
    || echo '{"error": "the speed check failed or ran out of time"}' > "$work/zhishu.json"

echo "== 3b. Zhishu on the same shape with 4-bit projections (AWQ/GPTQ form)" >&2
timeout 150 "$BIN" --speed --int4 --device cuda:0 --config "$config" --prefill 8192 \
    --batches 1,16 > "$work/zhishu_int4.json" \
    || echo '{"error": "the int4 speed check failed or ran out of time"}' > "$work/zhishu_int4.json"

echo "== 4. the embedder (bge-m3 shape)" >&2
timeout 240 "$PY" scripts/gpu_encoders.py "$work/xlmr-tokenizer.json" "$work/enc" \
    > "$work/encoder_baseline.json" \
    && timeout 120 "$BIN" --encoder "$work/enc/model" --texts "$work/enc/texts.txt" --device cuda:0 \
    > "$work/encoder.json" \
    || echo '{"error": "the embedder check failed or ran out of time"}' > "$work/encoder.json"
[ -s "$work/encoder_baseline.json" ] || echo '{}' > "$work/encoder_baseline.json"

"$PY" - "$work" "$OUT/gpu-check.json" <<'EOF'
import json, sys
work, out = sys.argv[1], sys.argv[2]
r = {k: json.load(open(f"{work}/{k}.json"))
     for k in ("correctness", "load", "baselines", "zhishu", "zhishu_int4", "encoder",
               "encoder_baseline")}
json.dump(r, open(out, "w"), indent=2)
c, b, z = r["correctness"], r["baselines"], r["zhishu"]
def get(d, *path):
    for p in path:
        if isinstance(d, list):
            d = d[p] if p < len(d) else None
        elif isinstance(d, dict):
            d = d.get(p)
        if d is None:
            return None
    return d
def f(x, fmt="{:.1f}"):
    return "-" if x is None else fmt.format(x)
rows = [
    ("correctness: f32 logits rel. error (≤ 1e-4)", f(c.get("f32_logits_max_relative_error"), "{:.2e}")),
    ("correctness: paged reference rel. error", f(c.get("f32_paged_reference_max_relative_error"), "{:.2e}")),
    ("correctness: greedy tokens f32 / paged / bf16", " / ".join(str(c.get(k)) for k in (
        "f32_greedy_tokens_equal", "f32_paged_greedy_tokens_equal", "bf16_greedy_tokens_equal_where_clear"))),
    ("correctness: CUDA kernels vs reference, batch rel. error f32 / bf16",
     " / ".join(f(get(c, "kernels", t, "batch_rel_error"), "{:.2e}") for t in ("F32", "BF16"))),
    ("loading: peak host memory / largest shard, MiB", "-" if "error" in r["load"] else
     "{:.0f} / {:.0f}".format(r["load"]["peak_host_anon_bytes_during_load"] / 2**20,
                              r["load"]["largest_shard_bytes"] / 2**20)),
    ("GPU copy bandwidth GB/s", f(b.get("copy_bandwidth_gb_s"))),
    ("GPU bf16 GEMM TFLOP/s", f(b.get("bf16_gemm_tflops"))),
    ("decode ceiling tokens/s (batch 1)", f(b.get("decode_ceiling_tokens_s"))),
]
for i, n in enumerate((8192, 32768)):
    rows.append((f"Zhishu prefill {n} tokens/s", f(get(z, "prefill", i, "tokens_s"))))
rows.append(("transformers prefill 8192 tokens/s", f(get(b, "transformers", 2, "prefill_tokens_s"))))
for i, n in enumerate((1, 16, 64)):
    rows.append((f"Zhishu decode batch {n} tokens/s", f(get(z, "decode", i, "tokens_s"))))
bw = b.get("copy_bandwidth_gb_s")
def share(tokens_s, model):
    read = model.get("weight_bytes_read_per_token")
    if None in (tokens_s, bw, read):
        return "-"
    return "{:.0f} %".format(100 * tokens_s / (bw * 1e9 / 2 / read))
rows.append(("Zhishu decode batch 1, share of the bandwidth ceiling (goal 80 %)",
             share(get(z, "decode", 0, "tokens_s"), z)))
q = r["zhishu_int4"]
rows.append(("Zhishu int4 prefill 8192 tokens/s", f(get(q, "prefill", 0, "tokens_s"))))
rows.append(("Zhishu int4 decode batch 1 / 16 tokens/s",
             f(get(q, "decode", 0, "tokens_s")) + " / " + f(get(q, "decode", 1, "tokens_s"))))
rows.append(("Zhishu int4 decode batch 1, share of its bandwidth ceiling",
             share(get(q, "decode", 0, "tokens_s"), q)))
rows.append(("transformers decode batch 1 tokens/s", f(get(b, "transformers", 0, "decode_tokens_s"))))
rows.append(("transformers decode static batch 16 tokens/s", f(get(b, "transformers", 1, "decode_tokens_s"))))
rows.append(("Zhishu KV capacity tokens", f(z.get("kv_capacity_tokens"), "{}")))
rows.append(("Zhishu serving c=64 output tokens/s", f(get(z, "serving", "output_tokens_s"))))
rows.append(("Zhishu serving TTFT p50 / p99 s", f(get(z, "serving", "ttft_p50_s"), "{:.2f}") + " / " + f(get(z, "serving", "ttft_p99_s"), "{:.2f}")))
rows.append(("Zhishu embedder (bge-m3 shape, bf16) chunks/s", f(r["encoder"].get("chunks_s"))))
rows.append(("transformers bf16, sentence-transformers batching, chunks/s", f(r["encoder_baseline"].get("transformers_bf16_chunks_s"))))
print("| check | value |\n|---|---:|")
for k, v in rows:
    print(f"| {k} | {v} |")
print(f"\nJSON: {out}")
EOF
