#!/usr/bin/env bash
# Embedding throughput: Zhishu's candle embedder vs sentence-transformers on
# PyTorch (CPU), same model, same texts, same run.
#
#   PYTHON=/path/to/python-with-sentence-transformers ./scripts/bench_encoders.sh
#   PYTHON=... ./scripts/bench_encoders.sh chunks
#
# Without an argument: all-MiniLM-L6-v2 on the parity fixtures' short
# sentences. With `chunks`: the single-box default, multilingual-e5-small,
# on 128 realistic chunks (300-500 of its tokens, "passage: " prefixed) cut
# from the Chinese and English documentation in tests/data/docs-{zh,en}.
#
# PYTHON needs torch and sentence-transformers (see scripts/encoder_fixtures.py
# for the versions used). Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
ASSETS=${ZHISHU_ASSETS_DIR:-$(./scripts/fetch-assets.sh --print-dir)}
MODEL="$ASSETS/models/all-MiniLM-L6-v2"
SENTENCES="$PWD/services/encoders/tests/fixtures/minilm_embeddings.json"
TEXTS=512
THREADS=$(nproc)
if [[ ${1:-} == chunks ]]; then
    MODEL="$ASSETS/models/multilingual-e5-small"
    SENTENCES=$(mktemp --suffix .json)
    trap 'rm -f "$SENTENCES"' EXIT
    TEXTS=128
    python3 - "$SENTENCES" <<'PY'
import json, sys
out, texts = sys.argv[1], []
for lang, width in (("zh", 450), ("en", 1600)):  # characters for ~300-500 e5 tokens
    docs = [json.loads(l) for l in open(f"tests/data/docs-{lang}/corpus.jsonl", encoding="utf-8")]
    flat = (" ".join(d["text"].split()) for d in docs)
    texts += ["passage: " + t[:width] for t in flat if len(t) >= width][:64]
json.dump({"sentences": texts}, open(out, "w"), ensure_ascii=False)
PY
fi

rust=$(cargo bench -q -p zhishu-encoders --bench embed_throughput -- "$MODEL" "$SENTENCES" "$TEXTS" 2>/dev/null)
py=$("$PYTHON" - "$MODEL" "$SENTENCES" "$THREADS" "$TEXTS" <<'PY'
import json, resource, sys, time
import torch
from sentence_transformers import SentenceTransformer
model_dir, sentences, threads, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
base = json.load(open(sentences))["sentences"]
corpus = (base * (total // len(base) + 1))[:total]
m = SentenceTransformer(model_dir, device="cpu")
m.encode(corpus[:32], batch_size=32)
for batch in (1, 32, 256):
    n = min(128, len(corpus)) if batch == 1 else len(corpus)
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
print(f"| {r['batch']} | {r['per_second']:.1f} | {p['per_second']:.1f} | {r['per_second']/p['per_second']:.2f}× | {r['peak_rss_mib']:.0f} | {p['peak_rss_mib']:.0f} |")
PY
done
