{{/*
The name is the chart name on purpose: `app.kubernetes.io/name` is a cross-chart contract
(docs/contracts.md) that NetworkPolicies in other charts select on, so it is not overridable.
*/}}
{{- define "redis.name" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/*
Fully qualified name (helm create): the release name when it already contains the chart name
(release `redis` → `redis`), else `<release>-<chart>`; truncated to 63 characters.
*/}}
{{- define "redis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "redis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "redis.labels" -}}
helm.sh/chart: {{ include "redis.chart" . }}
{{ include "redis.selectorLabels" . }}
app.kubernetes.io/version: {{ include "redis.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: queue-store
app.kubernetes.io/part-of: sreplat
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "redis.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* repository@digest when a digest is given (it wins), else repository:tag. */}}
{{- define "redis.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "redis.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/* Restricted Pod Security Standard, UID/GID 1000 (docs/contracts.md). */}}
{{- define "redis.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "redis.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The password: given in values, else the one already in the cluster's Secret (so upgrades keep it),
else a new random one. Alphanumeric only: it is embedded in REDIS_URL unescaped.
*/}}
{{- define "redis.password" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "redis.fullname" .) -}}
{{- if .Values.auth.password -}}
{{- .Values.auth.password -}}
{{- else if and $existing $existing.data (index $existing.data "redis-password") -}}
{{- index $existing.data "redis-password" | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
