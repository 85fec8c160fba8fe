{{/*
Helpers of the observability pieces (collector, Grafana, Managed Prometheus frontend). Each
component's pods carry `app.kubernetes.io/name: <component>`, which the NetworkPolicies select on.
*/}}

{{/* Selector labels of a component: (dict "root" $ "name" "otel-collector") */}}
{{- define "platform.componentSelector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "platform.componentLabels" -}}
helm.sh/chart: {{ include "platform.chart" .root }}
{{ include "platform.componentSelector" . }}
app.kubernetes.io/component: observability
app.kubernetes.io/part-of: sreplat
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* repository@digest when a digest is given (it wins), else repository:tag. */}}
{{- define "platform.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/* Restricted Pod Security Standard, UID/GID 1000 like every sreplat pod (docs/contracts.md). */}}
{{- define "platform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "platform.containerSecurityContext" -}}
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
Egress to Google APIs and the GKE metadata server, for pods that act as a Google service account
through Workload Identity. NetworkPolicies cannot name hosts: Google APIs are reached at the
private.googleapis.com addresses (a private DNS zone maps *.googleapis.com there:
terraform/modules/private_google_apis), and Workload Identity tokens come from the metadata
server (169.254.169.254:80, which GKE Dataplane V2 hands to the GKE metadata server on
169.254.169.252:988).
*/}}
{{- define "platform.googleApisEgress" -}}
- to:
    {{- range .Values.googleApis.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - protocol: TCP
      port: 443
{{- range .Values.googleApis.metadataServer }}
- to:
    - ipBlock:
        cidr: {{ .cidr }}
  ports:
    - protocol: TCP
      port: {{ .port }}
{{- end }}
{{- end -}}

{{- define "platform.requireProject" -}}
{{- if not (regexMatch "^[a-z][a-z0-9-]{4,28}[a-z0-9]$" .Values.gcp.projectId) -}}
{{- fail (printf "gcp.projectId is required by %s: the Google Cloud project (6-30 lowercase letters, digits or hyphens)" .what) -}}
{{- end -}}
{{- end -}}
