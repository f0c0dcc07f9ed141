#!/usr/bin/env bash
# Serving benchmark: total output tokens/s of Zhishu's continuous-batching
# engine at concurrency 1, 4 and 16 (clients sending requests back to back),
# beside transformers' `generate` one request at a time and with 16 prompts
# batched up front, on the same model and prompts, in the same run.
#
#   PYTHON=~/.cache/zhishu/venv-bench/bin/python ./scripts/bench_serving.sh \
#       [--model PATH] [--new-tokens 64] [--requests 32]
#
# --model may also be the random Qwen3-0.6B-shaped folder that
# scripts/engine_bench_model.py builds (Qwen3's tokenizer is copied in).
#
# PYTHON needs torch, transformers, accelerate, gguf and numpy. --model defaults to the
# offline SmolLM2-135M-Instruct Q4_1 GGUF (transformers dequantises it to
# f32; Zhishu too by default, as `zhishu serve` does for a model this size,
# and then once more with the weights kept quantised). Prints the JSON lines
# of both sides on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=""
NEW_TOKENS=64
REQUESTS=32
while [ $# -gt 0 ]; do
    case "$1" in
        --model) MODEL=${2:?--model needs a path}; shift 2 ;;
        --new-tokens) NEW_TOKENS=${2:?--new-tokens needs a value}; shift 2 ;;
        --requests) REQUESTS=${2:?--requests needs a value}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 0 ;;
        *) echo "bench_serving.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
if [ -z "$MODEL" ]; then
    MODEL="$(./scripts/fetch-assets.sh --print-dir)/models/SmolLM2-135M-Instruct.Q4_1.gguf"
fi
MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")
# A random-weight folder (scripts/engine_bench_model.py) has no tokenizer:
# give it Qwen3's, so both sides can render chat prompts.
if [ -d "$MODEL" ] && [ ! -f "$MODEL/tokenizer.json" ]; then
    QWEN3_TOK="$(./scripts/fetch-assets.sh --print-dir)/tokenizers/qwen3"
    echo "bench_serving.sh: copying Qwen3's tokenizer from $QWEN3_TOK into $MODEL" >&2
    cp "$QWEN3_TOK/tokenizer.json" "$QWEN3_TOK/tokenizer_config.json" "$MODEL/"
fi
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import torch, transformers, accelerate, gguf' 2>/dev/null || {
    echo "bench_serving.sh: '$PYTHON' cannot import torch, transformers, accelerate and gguf; set PYTHON" >&2
    exit 1
}
THREADS=$(nproc)

echo "== transformers (PyTorch CPU, f32, $THREADS threads)" >&2
"$PYTHON" scripts/bench_serving_torch.py --model "$MODEL" --requests 8 --batch 16 \
    --new-tokens "$NEW_TOKENS" --threads "$THREADS"
echo "== zhishu (weights dequantised at load, as zhishu serve does for a model this size)" >&2
cargo bench -q -p zhishu-engine --bench serving -- --model "$MODEL" \
    --requests "$REQUESTS" --new-tokens "$NEW_TOKENS" --concurrency 1,4,16
case "$MODEL" in *.gguf) ;; *) exit 0 ;; esac
echo "== zhishu (weights kept quantised: engine.dense_weights_max_bytes = 0)" >&2
cargo bench -q -p zhishu-engine --bench serving -- --model "$MODEL" \
    --requests "$REQUESTS" --new-tokens "$NEW_TOKENS" --concurrency 1,16 --dense-bytes 0
