{{- /*
The tutorials CronJob (docs/notebooks.md): notebooks/tutorial_sync.py, from the user image,
publishes each of tutorials.sources read-only under tutorials.efsDir on EFS; user servers mount
that folder read-only (hub_config: custom.nexus.tutorials_subdir). Names and paths, once.
*/ -}}
{{- define "nexus.tutorials.name" -}}{{ include "nexus.job.name" (list . "tutorials-sync") }}{{- end -}}
{{- define "nexus.tutorials.configName" -}}{{ include "nexus.tutorials.name" . }}-sources{{- end -}}
{{- define "nexus.tutorials.component" -}}tutorials-sync{{- end -}}
{{- define "nexus.tutorials.mount.config" -}}/etc/nexus-tutorials{{- end -}}
{{- define "nexus.tutorials.mount.dest" -}}/srv/nexus/tutorials{{- end -}}
{{- define "nexus.tutorials.script" -}}/opt/nexus/src/notebooks/tutorial_sync.py{{- end -}}

{{- /* Rendered only with EFS (the trees live there); the hub must mount the same folder. */ -}}
{{- define "nexus.tutorials.enabled" -}}
{{- if .Values.efs.enabled -}}
{{- $subdir := dig "custom" "nexus" "tutorials_subdir" "" .Values.jupyterhub | default "" | toString -}}
{{- if .Values.tutorials.enabled -}}
{{- if ne $subdir (toString .Values.tutorials.efsDir) -}}
{{- fail (printf "jupyterhub.custom.nexus.tutorials_subdir (%q) must equal tutorials.efsDir (%q): user servers mount the folder the CronJob writes" $subdir (toString .Values.tutorials.efsDir)) -}}
{{- end -}}
true
{{- else if $subdir -}}
{{- fail (printf "tutorials.enabled is false but jupyterhub.custom.nexus.tutorials_subdir is %q: set it to null, or user servers mount a folder nothing fills over the image's tutorials" $subdir) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "nexus.tutorials.image" -}}
{{- $image := .Values.tutorials.image -}}
{{- if $image.name -}}
{{ $image.name }}:{{ $image.tag }}
{{- else -}}
{{ .Values.jupyterhub.singleuser.image.name }}:{{ .Values.jupyterhub.singleuser.image.tag }}
{{- end -}}
{{- end -}}
