{{- define "ddmsp.name" -}}{{ .Release.Name }}-ddmsp{{- end -}}

{{- define "ddmsp.selectorLabels" -}}
app.kubernetes.io/name: ddmsp
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ddmsp.labels" -}}
{{ include "ddmsp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ddmsp.serviceAccountName" -}}
{{- default (include "ddmsp.name" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "ddmsp.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "ddmsp.mode" -}}{{ if .Values.watchNamespaces }}namespaced{{ else }}cluster{{ end }}{{- end -}}

{{/*
Sharding guard: every release marks what it claims with labels on its RBAC objects
(ddmsp.io/claim on a namespace's Role, ddmsp.io/mode=cluster on a cluster-mode ClusterRole).
At install and upgrade, lookup finds another release's claim on the same namespaces and
the install fails naming it. (helm template and client-side dry runs cannot look up.)
*/}}
{{- define "ddmsp.claimGuard" -}}
{{- $me := .Release.Name -}}
{{- $myns := .Release.Namespace -}}
{{- $others := list -}}
{{- range $cr := (lookup "rbac.authorization.k8s.io/v1" "ClusterRole" "" "").items | default list -}}
  {{- $l := $cr.metadata.labels | default dict -}}
  {{- if and (eq (get $l "app.kubernetes.io/name") "ddmsp") (hasKey $l "ddmsp.io/release") -}}
    {{- if ne (get $l "ddmsp.io/release") (printf "%s.%s" $myns $me) -}}
      {{- $others = append $others (dict "release" (get $l "ddmsp.io/release") "mode" (get $l "ddmsp.io/mode")) -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- range $o := $others -}}
  {{- if eq $o.mode "cluster" -}}
    {{- fail (printf "ddmsp release %s watches every namespace (cluster mode); a second release would act on the same objects. Give it watchNamespaces or uninstall it first." $o.release) -}}
  {{- end -}}
  {{- if not $.Values.watchNamespaces -}}
    {{- fail (printf "ddmsp release %s already watches some namespaces; a cluster-mode release would act on its objects. Set watchNamespaces to namespaces no other release claims." $o.release) -}}
  {{- end -}}
{{- end -}}
{{- range $ns := .Values.watchNamespaces -}}
  {{- range $r := (lookup "rbac.authorization.k8s.io/v1" "Role" $ns "").items | default list -}}
    {{- $l := $r.metadata.labels | default dict -}}
    {{- if and (hasKey $l "ddmsp.io/claim") (ne (get $l "ddmsp.io/release") (printf "%s.%s" $myns $me)) -}}
      {{- fail (printf "namespace %s is already watched by ddmsp release %s; each namespace belongs to one release (shard by disjoint watchNamespaces)" $ns (get $l "ddmsp.io/release")) -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- end -}}

{{- define "ddmsp.rules" -}}
# The operator's own kinds, their status, and the annotation it stamps on them.
- apiGroups: ["ddmsp.io"]
  resources: ["datadogclientorgs", "datadogroles", "datadogsamlconfigs", "datadogusers",
              "datadogapikeys", "datadogorgconnections"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["ddmsp.io"]
  resources: ["datadogclientorgs/status", "datadogroles/status", "datadogsamlconfigs/status",
              "datadogusers/status", "datadogapikeys/status", "datadogorgconnections/status"]
  verbs: ["get", "patch", "update"]
# spec.opsOrgConnection: the DatadogOrgConnection a DatadogClientOrg owns is created and
# deleted by the operator (controllers/opsconnection.py).
- apiGroups: ["ddmsp.io"]
  resources: ["datadogorgconnections"]
  verbs: ["create", "delete"]
# Org credentials Secrets (create, merge) and IdP metadata sources: read by name; only
# those labelled ddmsp.io/idp-metadata are listed and watched (server-side label selector).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/*
Values added after 0.1.0, read with their defaults: `helm upgrade --reuse-values` keeps the
previous release's values only, without the new keys of values.yaml (docs/operations.md).
A missing metrics.secure means secure: an upgrade never opens the metrics.
*/}}
{{- define "ddmsp.metricsSecure" -}}
{{- if eq (toString (dig "secure" true .Values.metrics)) "false" }}false{{ else }}true{{ end -}}
{{- end -}}
{{- define "ddmsp.metricsCertSecret" -}}{{ dig "tls" "secretName" "" .Values.metrics }}{{- end -}}
{{- define "ddmsp.aggregateRoles" -}}
{{- if and .Values.rbac.create (ne (toString (dig "aggregateToDefaultRoles" true .Values.rbac)) "false") }}true{{ end -}}
{{- end -}}
