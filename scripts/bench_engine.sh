#!/usr/bin/env bash
# CPU generation benchmark: prefill and decode tokens/s of Zhishu's engine
# (f32 safetensors and Q8_0 GGUF) against transformers on PyTorch (CPU, f32),
# same random-weight Qwen3-0.6B-shaped model, same prompt, same run; decode
# is also compared with its memory-bandwidth ceiling (reported by the Rust
# bench: copy bandwidth / weight bytes read per token).
#
#   PYTHON=/work/venv-fixtures/bin/python ./scripts/bench_engine.sh \
#       [--prompt-tokens 512] [--new-tokens 32]
#
# PYTHON needs torch, transformers, gguf and numpy (the venv described in
# scripts/engine_fixtures.py).  Environment:
#   ZHISHU_BENCH_DIR      where the model is built (default
#                         ~/.cache/zhishu/bench; ~3 GB, built once, reused)
#   ZHISHU_BENCH_THREADS  threads for both engines (default: nproc); passed
#                         to torch.set_num_threads and as RAYON_NUM_THREADS
#
# Steps: (1) scripts/engine_bench_model.py builds the model (f32 safetensors
# + Q8_0 GGUF) unless already there; (2) the Rust bench is compiled; (3)
# scripts/engine_bench_torch.py measures transformers; (4) the Rust bench
# runs on the safetensors folder, then on the GGUF file.  Prompt ids are
# ids[i] = (i * 7919) % 151936 in both.  Prints a Markdown table for
# docs/benchmarks.md on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit "${1:-0}"
}

PROMPT_TOKENS=512
NEW_TOKENS=32
while [ $# -gt 0 ]; do
    case "$1" in
        --prompt-tokens) PROMPT_TOKENS=${2:?--prompt-tokens needs a value}; shift 2 ;;
        --prompt-tokens=*) PROMPT_TOKENS=${1#*=}; shift ;;
        --new-tokens) NEW_TOKENS=${2:?--new-tokens needs a value}; shift 2 ;;
        --new-tokens=*) NEW_TOKENS=${1#*=}; shift ;;
        -h | --help) usage 0 ;;
        *) echo "bench_engine.sh: unknown argument: $1" >&2; usage 2 ;;
    esac
done
for v in "$PROMPT_TOKENS" "$NEW_TOKENS"; do
    case "$v" in
        '' | *[!0-9]* | 0) echo "bench_engine.sh: token counts must be positive integers (got '$v')" >&2; exit 2 ;;
    esac
done

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import torch, transformers, gguf, numpy' 2>/dev/null; then
    echo "bench_engine.sh: '$PYTHON' cannot import torch, transformers, gguf and numpy." >&2
    echo "  Set PYTHON to a Python that has them, e.g. the venv of scripts/engine_fixtures.py:" >&2
    echo "  PYTHON=/work/venv-fixtures/bin/python ./scripts/bench_engine.sh" >&2
    exit 1
fi
BENCH_DIR=${ZHISHU_BENCH_DIR:-$HOME/.cache/zhishu/bench}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd) # absolute: cargo runs benches in the crate's folder
THREADS=${ZHISHU_BENCH_THREADS:-$(nproc)}
export RAYON_NUM_THREADS=$THREADS
MODEL_DIR="$BENCH_DIR/qwen3-0.6b-random"
GGUF="$BENCH_DIR/qwen3-0.6b-random-q8_0.gguf"

echo "== [1/4] model -> $BENCH_DIR" >&2
"$PYTHON" scripts/engine_bench_model.py --out "$BENCH_DIR" >&2

echo "== [2/4] compiling the Rust bench" >&2
cargo bench -p zhishu-engine --bench generate --no-run >&2

echo "== [3/4] transformers (PyTorch CPU, f32, $THREADS threads)" >&2
torch_json=$("$PYTHON" scripts/engine_bench_torch.py --model "$MODEL_DIR" \
    --prompt-tokens "$PROMPT_TOKENS" --new-tokens "$NEW_TOKENS" --threads "$THREADS")
echo "$torch_json" >&2

echo "== [4/4] zhishu (f32 safetensors, then Q8_0 GGUF)" >&2
rust_f32=$(cargo bench -q -p zhishu-engine --bench generate -- \
    --model "$MODEL_DIR" --prompt-tokens "$PROMPT_TOKENS" --new-tokens "$NEW_TOKENS")
echo "$rust_f32" >&2
rust_q8=$(cargo bench -q -p zhishu-engine --bench generate -- \
    --model "$GGUF" --prompt-tokens "$PROMPT_TOKENS" --new-tokens "$NEW_TOKENS")
echo "$rust_q8" >&2

"$PYTHON" - "$torch_json" "$rust_f32" "$rust_q8" <<'PY'
import datetime, json, sys


def zhishu_line(stdout: str, weights: str) -> dict:
    """The last JSON object with engine "zhishu" on the bench's stdout."""
    found = None
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("engine") == "zhishu":
            found = obj
    if found is None:
        sys.exit(f"bench_engine.sh: no zhishu JSON line in the {weights} bench output")
    if found.get("weights") != weights:
        sys.exit(f"bench_engine.sh: expected weights {weights!r}, the bench said {found.get('weights')!r}")
    return found


torch = json.loads(sys.argv[1].strip().splitlines()[-1])
f32, q8 = zhishu_line(sys.argv[2], "f32"), zhishu_line(sys.argv[3], "q8_0")


def num(x, fmt):
    return "n/a" if x is None else format(x, fmt)


def ratio(a, b):
    return "n/a" if a is None or not b else f"{a / b:.2f}×"


def pct(a, b):
    return "n/a" if a is None or not b else f"{100 * a / b:.0f}%"


rows = [
    # transformers reads the same f32 weights, so it shares zhishu f32's ceiling
    ("transformers (PyTorch)", "f32", torch, f32.get("decode_ceiling_tokens_per_s")),
    ("zhishu", "f32", f32, f32.get("decode_ceiling_tokens_per_s")),
    ("zhishu", "Q8_0", q8, q8.get("decode_ceiling_tokens_per_s")),
]
tp, td = torch["prefill_tokens_per_s"], torch["decode_tokens_per_s"]
print(f"{datetime.date.today()}, {torch['threads']} threads, prompt {torch['prompt_tokens']} tokens, "
      f"{torch['new_tokens']} new tokens; torch {torch['torch']}, transformers {torch['transformers']} "
      f"(attention {torch.get('attn_implementation', '?')}):")
print()
print("| engine | weights | prefill tok/s | prefill vs transformers | decode tok/s "
      "| decode vs transformers | decode ceiling tok/s | % of ceiling | peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for name, w, r, ceil in rows:
    p, d = r.get("prefill_tokens_per_s"), r.get("decode_tokens_per_s")
    print(f"| {name} | {w} | {num(p, '.1f')} | {ratio(p, tp)} | {num(d, '.2f')} | {ratio(d, td)} "
          f"| {num(ceil, '.2f')} | {pct(d, ceil)} | {num(r.get('peak_rss_mib'), '.0f')} |")
print()
for label, r in (("f32", f32), ("Q8_0", q8)):
    b, bw = r.get("weight_bytes_per_token"), r.get("copy_bandwidth_gb_s")
    print(f"- {label} ceiling: {num(None if b is None else b / 1e6, '.0f')} MB of weights read per "
          f"decoded token at {num(bw, '.1f')} GB/s measured copy bandwidth.")
PY
