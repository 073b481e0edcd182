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

{{/*
watchNamespaces as the controller's flag value (a,b), checked: each a namespace name (a DNS-1123
label); empty when every namespace is watched. A list, or one comma-separated string.
*/}}
{{- define "kubevirtbmc.watchNamespaces" -}}
{{- $v := .Values.watchNamespaces | default list -}}
{{- $names := list -}}
{{- if kindIs "string" $v -}}
{{- $names = splitList "," $v -}}
{{- else if kindIs "slice" $v -}}
{{- $names = $v -}}
{{- else -}}
{{- fail (printf "watchNamespaces must be a list of namespace names (e.g. [lab, team-a]), not %v" $v) -}}
{{- end -}}
{{- $out := list -}}
{{- range $names -}}
{{- $ns := toString . | trim -}}
{{- if or (gt (len $ns) 63) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $ns)) -}}
{{- fail (printf "watchNamespaces: %q is not a namespace name: use a DNS-1123 label (at most 63 characters: lower-case letters, digits and -, starting and ending with a letter or digit)" $ns) -}}
{{- end -}}
{{- if has $ns $out -}}
{{- fail (printf "watchNamespaces: %q is given twice" $ns) -}}
{{- end -}}
{{- $out = append $out $ns -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}
