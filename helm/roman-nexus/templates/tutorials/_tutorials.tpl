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

{{- /* Rendered only with EFS; the hub must mount the same folder (_sync.tpl). */ -}}
{{- define "nexus.tutorials.enabled" -}}
{{- include "nexus.sync.enabled" (dict "root" . "key" "tutorials" "setting" "tutorials_subdir" "mounted" "the folder the CronJob writes" "unfilled" "a folder nothing fills over the image's tutorials") -}}
{{- end -}}

{{- define "nexus.tutorials.image" -}}{{ include "nexus.sync.image" (dict "root" . "key" "tutorials") }}{{- end -}}
