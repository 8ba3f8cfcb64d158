{{/*
Names and labels shared by every template. Kubernetes names are DNS labels: 63 characters at most.
*/}}

{{- define "pcm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release name alone when it already contains the chart name. */}}
{{- define "pcm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the operator's objects; "-operator" fits because fullname is cut to 54 first. */}}
{{- define "pcm.operatorName" -}}
{{- printf "%s-operator" (include "pcm.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}

{{- define "pcm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pcm.labels" -}}
helm.sh/chart: {{ include "pcm.chart" . }}
{{ include "pcm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pcm
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "pcm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pcm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pcm.operatorSelectorLabels" -}}
{{ include "pcm.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "pcm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pcm.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest when a digest pins it. */}}
{{- define "pcm.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Lease the operator replicas elect a leader on (release namespace). */}}
{{- define "pcm.leaseName" -}}
{{- include "pcm.operatorName" . -}}
{{- end -}}
