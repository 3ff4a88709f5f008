{{- /*
Helpers of checks-production.yaml.

"nexus.tolerates": (list $tolerations $wanted) renders "true" when one of $tolerations tolerates
the taint that the toleration $wanted is written for, with Kubernetes' matching rules: an empty
effect matches every effect, `Exists` every value, `Exists` without a key every taint.
*/ -}}
{{- define "nexus.tolerates" -}}
{{- $want := index . 1 -}}
{{- $wantKey := get $want "key" | default "" | toString -}}
{{- $wantOp := get $want "operator" | default "Equal" | toString -}}
{{- $wantValue := get $want "value" | default "" | toString -}}
{{- $wantEffect := get $want "effect" | default "" | toString -}}
{{- range $t := index . 0 -}}
{{- $key := get $t "key" | default "" | toString -}}
{{- $op := get $t "operator" | default "Equal" | toString -}}
{{- $value := get $t "value" | default "" | toString -}}
{{- $effect := get $t "effect" | default "" | toString -}}
{{- $keyOk := or (eq $key $wantKey) (and (eq $key "") (eq $op "Exists")) -}}
{{- $valueOk := or (eq $op "Exists") (and (ne $wantOp "Exists") (eq $value $wantValue)) -}}
{{- $effectOk := or (eq $effect "") (eq $effect $wantEffect) -}}
{{- if and $keyOk $valueOk $effectOk }}true{{ end -}}
{{- end -}}
{{- end -}}

{{- /* A toleration as the taint it is for, kubectl's way: key=value:effect. */ -}}
{{- define "nexus.taintText" -}}
{{- get . "key" | default "(any key)" -}}
{{- if ne (get . "operator" | default "Equal") "Exists" }}={{ get . "value" | default "" }}{{ end -}}
:{{ get . "effect" | default "(any effect)" }}
{{- end -}}
