{{- define "ddmsp.name" -}}{{ .Release.Name }}-ddmsp{{- end -}}
{{- define "ddmsp.labels" -}}
app.kubernetes.io/name: ddmsp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
