#!/usr/bin/env bash
# Compile check of the GPU build on a machine without a GPU, so the CUDA
# path never rots: `cargo clippy --features cuda` of the engine (a check with
# lints, its device script included), with nvcc and the CUDA headers from
# PyPI (DESIGN.md), candle's kernels and our attention kernels
# (services/engine/kernels/*.cu, compiled to PTX by the engine's build.rs)
# compiled for sm_90 (H100/H200). ~6 minutes cold.
#
#   ./scripts/check-cuda.sh              # the engine, with `cuda`
#   ./scripts/check-cuda.sh --workspace  # every crate and target, with `cuda`
#
# `--workspace` is scripts/test.sh's one clippy run: only the engine has
# code behind the feature, so linting the workspace with it on covers
# everything but three small `not(cuda)` blocks (which the test build
# still compiles), in one pass over the dependencies instead of two
# (~5 minutes less of a cold run).
#
# Environment: ZHISHU_CUDA_VENV (where the nvidia-* packages go; default
# ~/.cache/zhishu/venv-cuda), CUDA_COMPUTE_CAP (default 90).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${ZHISHU_CUDA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/zhishu/venv-cuda}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check \
    nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 \
    'nvidia-cuda-cccl==13.0.*' 'nvidia-cuda-crt==13.0.*' 'nvidia-nvvm==13.0.*'
CUDA_ROOT=$("$VENV/bin/python" -c 'import os, nvidia; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$CUDA_ROOT/bin/nvcc" ] || { echo "check-cuda.sh: no nvcc under $CUDA_ROOT" >&2; exit 1; }
export CUDA_ROOT CUDA_PATH="$CUDA_ROOT" PATH="$CUDA_ROOT/bin:$PATH"
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
"$CUDA_ROOT/bin/nvcc" --version | tail -n 2
case "${1:-}" in
    --workspace) cargo clippy --locked --workspace --all-targets --features zhishu-engine/cuda -- -D warnings ;;
    "") cargo clippy --locked -p zhishu-engine --features cuda --all-targets -- -D warnings ;;
    *) echo "check-cuda.sh: unknown argument $1 (use --workspace or nothing)" >&2; exit 2 ;;
esac
