{{/* The chart's name, cut to Kubernetes' limit. */}}
{{- define "zhishu.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "zhishu.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "zhishu.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The Secret holding the database URL and the Qdrant API key. */}}
{{- define "zhishu.secretName" -}}
{{- printf "%s-secrets" (include "zhishu.fullname" .) -}}
{{- end -}}

{{- define "zhishu.databaseSecret" -}}
{{- default (include "zhishu.secretName" .) .Values.database.existingSecret -}}
{{- end -}}

{{- define "zhishu.qdrantSecret" -}}
{{- default (include "zhishu.secretName" .) .Values.qdrant.existingSecret -}}
{{- end -}}

{{/* Qdrant's gRPC address: external, or the chart's cluster. */}}
{{- define "zhishu.qdrantUrl" -}}
{{- if .Values.qdrant.url -}}
{{- .Values.qdrant.url -}}
{{- else if .Values.qdrantCluster.enabled -}}
{{- printf "http://%s-qdrant:6334" (include "zhishu.fullname" .) -}}
{{- else -}}
{{- fail "set qdrant.url, or qdrantCluster.enabled=true" -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by query and ingest nodes. */}}
{{- define "zhishu.env" -}}
- name: ZHISHU_CONFIG
  value: /etc/zhishu/production.toml
- name: ZHISHU_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "zhishu.databaseSecret" . }}
      key: database-url
- name: ZHISHU_VECTORS__URL
  value: {{ include "zhishu.qdrantUrl" . | quote }}
- name: ZHISHU_VECTORS__COLLECTION
  value: {{ .Values.qdrant.collection | quote }}
{{- if or .Values.qdrant.apiKey .Values.qdrant.existingSecret }}
- name: ZHISHU_VECTORS__API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "zhishu.qdrantSecret" . }}
      key: qdrant-api-key
{{- end }}
- name: ZHISHU_VECTORS__CLUSTER__REPLICATION_FACTOR
  value: {{ .Values.qdrant.replicationFactor | quote }}
- name: ZHISHU_VECTORS__CLUSTER__WRITE_CONSISTENCY_FACTOR
  value: {{ .Values.qdrant.writeConsistencyFactor | quote }}
- name: ZHISHU_VECTORS__CLUSTER__WRITE_ORDERING
  value: {{ .Values.qdrant.writeOrdering | quote }}
{{- with .Values.qdrant.shardNumber }}
- name: ZHISHU_VECTORS__CLUSTER__SHARD_NUMBER
  value: {{ . | quote }}
{{- end }}
- name: ZHISHU_MODELS__DIR
  value: /models
{{- with .Values.trustedProxies }}
- name: ZHISHU_SERVER__TRUSTED_PROXIES
  value: {{ . | toJson | quote }}
{{- end }}
{{- if .Values.documents.existingClaim }}
- name: ZHISHU_INGEST__ROOTS
  value: {{ printf "[\"%s\"]" .Values.documents.mountPath | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Probes on the health and readiness endpoints. */}}
{{- define "zhishu.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  failureThreshold: {{ .startup }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 10
  failureThreshold: 3
{{- end -}}

{{/* The engine's devices: cuda:0 … cuda:(query.gpus - 1), as TOML. */}}
{{- define "zhishu.devices" -}}
{{- $d := list -}}
{{- range $i := until (int .Values.query.gpus) -}}
{{- $d = append $d (printf "cuda:%d" $i) -}}
{{- end -}}
{{- $d | toJson -}}
{{- end -}}
