#!/usr/bin/env bash
# Embedding throughput: Zhishu's candle embedder vs sentence-transformers on
# PyTorch (CPU), same model (all-MiniLM-L6-v2), same sentences, same run.
#
#   PYTHON=/path/to/python-with-sentence-transformers ./scripts/bench_encoders.sh
#
# PYTHON needs torch and sentence-transformers (see scripts/encoder_fixtures.py
# for the versions used). Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ASSETS=${ZHISHU_ASSETS_DIR:-$(./scripts/fetch-assets.sh --print-dir)}
MODEL="$ASSETS/models/all-MiniLM-L6-v2"
SENTENCES="$PWD/services/encoders/tests/fixtures/minilm_embeddings.json"
THREADS=$(nproc)

rust=$(cargo bench -q -p zhishu-encoders --bench embed_throughput -- "$MODEL" "$SENTENCES" 2>/dev/null)
py=$("$PYTHON" - "$MODEL" "$SENTENCES" "$THREADS" <<'PY'
import json, resource, sys, time
import torch
from sentence_transformers import SentenceTransformer
model_dir, sentences, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
base = json.load(open(sentences))["sentences"]
corpus = (base * 11)[:512]
m = SentenceTransformer(model_dir, device="cpu")
m.encode(corpus[:32], batch_size=32)
for batch in (1, 32, 256):
    n = 128 if batch == 1 else len(corpus)
    t = time.perf_counter()
    m.encode(corpus[:n], batch_size=batch, normalize_embeddings=True)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": "sentence-transformers", "batch": batch, "sentences": n,
                      "per_second": n / secs, "peak_rss_mib": peak}))
PY
)
echo "| batch | zhishu (candle) sentences/s | sentence-transformers sentences/s | ratio | zhishu peak MiB | PyTorch peak MiB |"
echo "|---:|---:|---:|---:|---:|---:|"
for b in 1 32 256; do
    r=$(echo "$rust" | grep "\"batch\":$b,")
    p=$(echo "$py" | grep "\"batch\": $b,")
    python3 - "$r" "$p" <<'PY'
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| {r['batch']} | {r['per_second']:.0f} | {p['per_second']:.0f} | {r['per_second']/p['per_second']:.2f}× | {r['peak_rss_mib']:.0f} | {p['peak_rss_mib']:.0f} |")
PY
done
