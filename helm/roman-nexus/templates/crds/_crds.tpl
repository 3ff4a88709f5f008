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

{{- /* Rendered only with EFS; the hub must mount the same folder (_sync.tpl). */ -}}
{{- define "nexus.crds.enabled" -}}
{{- include "nexus.sync.enabled" (dict "root" . "key" "crdsCache" "setting" "crds_subdir" "mounted" "the CRDS cache the CronJob fills" "unfilled" "a CRDS cache nothing fills") -}}
{{- end -}}

{{- define "nexus.crds.image" -}}{{ include "nexus.sync.image" (dict "root" . "key" "crdsCache") }}{{- end -}}
