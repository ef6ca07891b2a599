{{/* Helm's labels, added to every object's metadata (never to selectors or pod templates). */}}
{{- define "gitflagger.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/*
The objects of one deploy/ file (files/ links to them), so the chart and `kubectl apply -k deploy/`
cannot drift: namespaced objects and ServiceAccount subjects move to the release's namespace and
Helm's labels are added. Call with (dict "root" $ "file" "files/rbac.yaml" "annotations" (dict)).
*/}}
{{- define "gitflagger.fromDeploy" -}}
{{- $root := .root -}}
{{- $annotations := .annotations | default dict -}}
{{- $content := $root.Files.Get .file -}}
{{- if not $content }}{{ fail (printf "chart file %s is missing or empty" .file) }}{{ end -}}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" $content -1 }}
{{- $obj := fromYaml $doc }}
{{- if hasKey $obj "Error" }}{{ fail (printf "%s: %s" $.file $obj.Error) }}{{ end }}
{{- if $obj }}
{{- if hasKey $obj.metadata "namespace" }}{{ $_ := set $obj.metadata "namespace" $root.Release.Namespace }}{{ end }}
{{- range $s := ($obj.subjects | default list) }}
{{- if hasKey $s "namespace" }}{{ $_ := set $s "namespace" $root.Release.Namespace }}{{ end }}
{{- end }}
{{- $_ := set $obj.metadata "labels" (merge (include "gitflagger.labels" $root | fromYaml) ($obj.metadata.labels | default dict)) }}
{{- if $annotations }}{{ $_ := set $obj.metadata "annotations" (merge $annotations ($obj.metadata.annotations | default dict)) }}{{ end }}
---
{{ toYaml $obj }}
{{- end }}
{{- end }}
{{- end }}

{{/* Values that `gitflagger run` cannot act on are refused, each by name. */}}
{{- define "gitflagger.validate" -}}
{{- if and .Values.slack.url .Values.msteams.url }}
{{- fail "slack.url and msteams.url are both set: the global notifier is one of them (gitflagger run refuses both); send more alerts with analysis.alerts" }}
{{- end }}
{{- if and (or .Values.slack.channel .Values.slack.user) (not .Values.slack.url) }}
{{- fail "slack.channel and slack.user need slack.url: without it no Slack alert is sent" }}
{{- end }}
{{- if not .Values.repo.url }}
{{- fail "repo.url is required: the config repo every step is committed to (https:// or ssh://)" }}
{{- end }}
{{- if and (gt (int .Values.leaderElection.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "leaderElection.replicaCount > 1 needs leaderElection.enabled: two controllers would write at once" }}
{{- end }}
{{- if and .Values.namespace (ne .Values.namespace .Release.Namespace) }}
{{- fail (printf "namespace: the namespaced mode runs the controller in the namespace it serves, as deploy/namespaced/ does; install the release there (helm install -n %s --set namespace=%s), not in %s" .Values.namespace .Values.namespace .Release.Namespace) }}
{{- end }}
{{- end }}
