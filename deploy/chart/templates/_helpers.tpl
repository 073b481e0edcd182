{{/* The image of the controller and of the agents: repository:tag, the tag defaulting to appVersion. */}}
{{- define "kubevirtbmc.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The namespace of the controller. */}}
{{- define "kubevirtbmc.namespace" -}}
{{- required "namespace.name is required" .Values.namespace.name -}}
{{- end -}}

{{/*
The labels every object carries: the same as deploy/ (its kustomization adds part-of), so the chart
and `kubectl apply -k deploy/` install the same objects.
*/}}
{{- define "kubevirtbmc.partOf" -}}
app.kubernetes.io/part-of: kubevirtbmc
{{- end -}}

{{/* requests or limits as the controller's flag value: cpu=10m,memory=64Mi, or none. */}}
{{- define "kubevirtbmc.quantities" -}}
{{- $out := list -}}
{{- range $k, $v := . -}}
{{- if not (has $k (list "cpu" "memory")) -}}
{{- fail (printf "agent.resources: only cpu and memory can be set, not %q" $k) -}}
{{- end -}}
{{- $out = append $out (printf "%s=%v" $k $v) -}}
{{- end -}}
{{- if $out }}{{ join "," $out }}{{ else }}none{{ end -}}
{{- end -}}
