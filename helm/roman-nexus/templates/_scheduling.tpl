{{- /*
Where and as whom a pod of the quota service runs: the one helper the Deployment, the migration
Job and the CronJobs render their pod spec's securityContext, nodeSelector, tolerations and
(Deployment) affinity and topology spread from. No priorityClassName: none is set today.

  include "nexus.podScheduling" (dict "root" $ "runAs" "notebook" "fsGroup" false "spread" "")

  runAs    "notebook": jupyterhub.singleuser.uid/fsGid, for pods that mount EFS (the access
           point makes every EFS operation that uid anyway); "quota": quota.runAsUser/runAsGroup
  fsGroup  with runAs "quota": also fsGroup quota.runAsGroup (the Deployment and the migration)
  spread   a component name: quota.affinity (default: preferably one pod per node) and a spread
           over zones, both selecting that component's pods; "": neither (the jobs)
Every pod is non-root with seccomp RuntimeDefault, on quota.nodeSelector and quota.tolerations.
*/ -}}
{{- define "nexus.podScheduling" -}}
{{- $spec := . -}}
{{- $values := .root.Values -}}
securityContext:
  runAsNonRoot: true
  {{- if eq $spec.runAs "notebook" }}
  runAsUser: {{ $values.jupyterhub.singleuser.uid }}
  runAsGroup: {{ $values.jupyterhub.singleuser.fsGid }}
  {{- else if eq $spec.runAs "quota" }}
  runAsUser: {{ $values.quota.runAsUser }}
  runAsGroup: {{ $values.quota.runAsGroup }}
  {{- if $spec.fsGroup }}
  fsGroup: {{ $values.quota.runAsGroup }}
  {{- end }}
  {{- else }}
  {{- fail (printf "nexus.podScheduling: runAs must be notebook or quota, not %q" (toString $spec.runAs)) }}
  {{- end }}
  seccompProfile:
    type: RuntimeDefault
{{- with $values.quota.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.quota.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $spec.spread }}
{{- $selector := include "nexus.selectorLabels" (list $spec.root .) }}
affinity:
  {{- if $values.quota.affinity }}
  {{- toYaml $values.quota.affinity | nindent 2 }}
  {{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- $selector | nindent 14 }}
  {{- end }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- $selector | nindent 8 }}
{{- end }}
{{- end -}}
