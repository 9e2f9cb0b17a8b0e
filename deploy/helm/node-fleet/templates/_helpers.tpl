{{/* The chart's standard labels. */}}
{{- define "node-fleet.labels" -}}
app.kubernetes.io/name: node-fleet-daemon
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pods' selector: the same as deploy/daemon's. */}}
{{- define "node-fleet.selector" -}}
app.kubernetes.io/name: node-fleet-daemon
{{- end -}}
