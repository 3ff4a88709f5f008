{{- /*
The CRDS cache CronJob (docs/kernels.md, "One shared CRDS cache"): `crds sync`, with the
Calibration kernel of the user image, fills crdsCache.efsDir on EFS from the CRDS server; user
servers mount that folder read-only where the kernelspec's CRDS_PATH points
(jupyterhub.custom.nexus.crds_subdir / crds_mount_path; the image sets CRDS_PATH=/crds and the
kernelspec CRDS_READONLY_CACHE=1). Names and paths, once.
*/ -}}
{{- define "nexus.crds.name" -}}{{ include "nexus.job.name" (list . "crds-sync") }}{{- end -}}
{{- define "nexus.crds.component" -}}crds-sync{{- end -}}
{{- define "nexus.crds.mount" -}}/srv/nexus/crds{{- end -}}
{{- define "nexus.crds.python" -}}/opt/nexus/kernels/roman-calibration/bin/python{{- end -}}

{{- /* Rendered only with EFS; the hub must mount the same folder. */ -}}
{{- define "nexus.crds.enabled" -}}
{{- if .Values.efs.enabled -}}
{{- $subdir := dig "custom" "nexus" "crds_subdir" "" .Values.jupyterhub | default "" | toString -}}
{{- if .Values.crdsCache.enabled -}}
{{- if ne $subdir (toString .Values.crdsCache.efsDir) -}}
{{- fail (printf "jupyterhub.custom.nexus.crds_subdir (%q) must equal crdsCache.efsDir (%q): user servers mount the CRDS cache the CronJob fills" $subdir (toString .Values.crdsCache.efsDir)) -}}
{{- end -}}
true
{{- else if $subdir -}}
{{- fail (printf "crdsCache.enabled is false but jupyterhub.custom.nexus.crds_subdir is %q: set it to null, or user servers mount a CRDS cache nothing fills" $subdir) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "nexus.crds.image" -}}
{{- $image := .Values.crdsCache.image -}}
{{- if $image.name -}}
{{ $image.name }}:{{ $image.tag }}
{{- else -}}
{{ .Values.jupyterhub.singleuser.image.name }}:{{ .Values.jupyterhub.singleuser.image.tag }}
{{- end -}}
{{- end -}}
