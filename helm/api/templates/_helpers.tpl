{{/*
The name is the chart name on purpose: `app.kubernetes.io/name` is a cross-chart contract
(docs/contracts.md) that NetworkPolicies in other charts select on, so it is not overridable.
*/}}
{{- define "api.name" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/*
Fully qualified name (helm create): the release name when it already contains the chart name
(release `api` → `api`), else `<release>-<chart>`; truncated to 63 characters.
*/}}
{{- define "api.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "api.labels" -}}
helm.sh/chart: {{ include "api.chart" . }}
{{ include "api.selectorLabels" . }}
app.kubernetes.io/version: {{ include "api.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: sreplat
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "api.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/* repository@digest when a digest is given (it wins), else repository:tag. */}}
{{- define "api.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "api.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{- define "api.release" -}}
{{- .Values.release | default (include "api.imageTag" .) -}}
{{- end -}}

{{/* Restricted Pod Security Standard, UID/GID 1000 (docs/contracts.md). */}}
{{- define "api.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "api.containerSecurityContext" -}}
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

{{/* The egress rule that lets a pod resolve names (kube-dns, Cloud DNS, NodeLocal DNSCache). */}}
{{- define "api.dnsEgressRule" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
    {{- range .Values.networkPolicy.dns.ipBlocks }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}
