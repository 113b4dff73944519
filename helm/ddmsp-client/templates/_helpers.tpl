{{- define "client.name" -}}
{{- required "client.name is required" .Values.client.name -}}
{{- end -}}
{{- define "client.labels" -}}
app.kubernetes.io/part-of: {{ include "client.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
