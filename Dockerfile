# Zhishu (知枢) — one image for the ingest and query services.
#
#   docker build -t zhishu .
#
# GPU query nodes need the `cuda` build, compiled on NVIDIA's CUDA devel
# image and run on its runtime image (cuBLAS, cuRAND, NVRTC, NCCL):
#
#   docker build -t zhishu:cuda --build-arg FEATURES=cuda \
#     --build-arg BUILD_BASE=nvidia/cuda:13.0.1-devel-ubuntu24.04 \
#     --build-arg RUNTIME_BASE=nvidia/cuda:13.0.1-runtime-ubuntu24.04 .
#
# (docker-compose.yml builds the query service that way; docs/operations.md.)

ARG BUILD_BASE=rust:1.95-bookworm
ARG RUNTIME_BASE=debian:bookworm-slim

FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# PDFium, Chrome's PDF engine, from the same pinned pypdfium2 wheel that
# scripts/fetch-assets.sh takes it from.
FROM python:3.12-slim-bookworm AS pdfium
RUN python -m pip download -q --no-deps --only-binary=:all: -d /w pypdfium2==5.15.2 \
 && python -m zipfile -e /w/*.whl /x \
 && install -D -m 0644 /x/pypdfium2_raw/libpdfium.so /out/libpdfium.so

FROM ${BUILD_BASE} AS build
# Cargo features: empty (CPU), or `cuda` on a CUDA devel base.
ARG FEATURES=
# GPU generation the CUDA kernels are compiled for (90: H100/H200).
ARG CUDA_COMPUTE_CAP=90
ENV CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP} PATH=/root/.cargo/bin:${PATH}
# A CUDA devel base has nvcc but no Rust: install the same toolchain.
RUN command -v cargo >/dev/null || { apt-get update \
      && apt-get install -y --no-install-recommends ca-certificates curl build-essential pkg-config \
      && curl -fsSL https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95 \
      && rm -rf /var/lib/apt/lists/*; }
WORKDIR /src
COPY . .
# The UI is embedded in the release binary.
COPY --from=web /src/web/dist web/dist
RUN cargo build --release --locked --bin zhishu ${FEATURES:+--features "$FEATURES"} \
 && install -m 0755 target/release/zhishu /usr/local/bin/zhishu

FROM ${RUNTIME_BASE}
# NCCL (tensor parallelism across GPUs) where the CUDA apt repository is
# configured, i.e. on NVIDIA's images; nothing on the CPU image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
      tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-chi-tra \
 && { ! apt-cache show libnccl2 >/dev/null 2>&1 || apt-get install -y --no-install-recommends libnccl2; } \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/zhishu zhishu \
 && mkdir -p /var/lib/zhishu /etc/zhishu \
 && chown zhishu /var/lib/zhishu
COPY --from=build /usr/local/bin/zhishu /usr/local/bin/zhishu
COPY --from=pdfium /out/libpdfium.so /usr/local/lib/zhishu/libpdfium.so
COPY configs/ /etc/zhishu/
# The lexicons are edited at run time (`zhishu guard`, /v1/guard/lexicons):
# the service user owns their folder; mount a volume there to keep edits.
RUN chown -R zhishu /etc/zhishu/guard
USER zhishu
WORKDIR /var/lib/zhishu
ENV ZHISHU_CONFIG=/etc/zhishu/production.toml
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["zhishu"]
CMD ["serve"]
