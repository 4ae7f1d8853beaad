{{- define "flinkops.name" -}}{{ .Release.Name }}{{- end -}}

{{- define "flinkops.labels" -}}
app.kubernetes.io/name: flinkops
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "flinkops.selector" -}}
app.kubernetes.io/name: flinkops
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flinkops.managerRules" -}}
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- with .Values.restTlsSecrets }}
{{- /* Only the Secrets named: those holding REST truststores of jobs that serve Flink's
REST API over TLS (security.ssl.rest.enabled). */}}
- apiGroups: [""]
  resources: [secrets]
  resourceNames: {{ toJson . }}
  verbs: [get]
{{- end }}
{{- end -}}

{{- /* What Flink's Kubernetes high-availability services do in their namespace: elect
the leader through a ConfigMap lock and keep job graphs and checkpoint pointers in
ConfigMaps. */ -}}
{{- define "flinkops.flinkRules" -}}
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
{{- end -}}
