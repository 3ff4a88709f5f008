{{- /*
What the two CronJobs that fill a folder on EFS for user servers to mount read-only share: the
tutorials (tutorials/) and the CRDS cache (crds/). Each helper takes a dict with "root" (the
chart's context) and "key" (tutorials or crdsCache, their values); their own _*.tpl names the rest.
*/ -}}

{{- /* "true" when the CronJob renders: with EFS and <key>.enabled. The hub must mount the same
folder: "setting" is its custom.nexus setting, "mounted" and "unfilled" end the two messages. */ -}}
{{- define "nexus.sync.enabled" -}}
{{- $v := .root.Values -}}
{{- $job := get $v .key -}}
{{- if $v.efs.enabled -}}
{{- $subdir := dig "custom" "nexus" .setting "" $v.jupyterhub | default "" | toString -}}
{{- if $job.enabled -}}
{{- if ne $subdir (toString $job.efsDir) -}}
{{- fail (printf "jupyterhub.custom.nexus.%s (%q) must equal %s.efsDir (%q): user servers mount %s" .setting $subdir .key (toString $job.efsDir) .mounted) -}}
{{- end -}}
true
{{- else if $subdir -}}
{{- fail (printf "%s.enabled is false but jupyterhub.custom.nexus.%s is %q: set it to null, or user servers mount %s" .key .setting $subdir .unfilled) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* <key>.image, or jupyterhub.singleuser.image when its name is empty. */ -}}
{{- define "nexus.sync.image" -}}
{{- $image := (get .root.Values .key).image -}}
{{- if not $image.name }}{{ $image = .root.Values.jupyterhub.singleuser.image }}{{ end -}}
{{ $image.name }}:{{ $image.tag }}
{{- end -}}

{{- /* The CronJob's own account ("name", "component"): no Kubernetes API token, no IAM role. */ -}}
{{- define "nexus.sync.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .name }}
  labels:
    {{- include "nexus.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
automountServiceAccountToken: false
{{- end -}}

{{- /* Its egress ("name", "component"): DNS, and HTTPS to <key>.egress, nothing else. */ -}}
{{- define "nexus.sync.egressPolicy" -}}
{{- $egress := (get .root.Values .key).egress -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .name }}-egress
  labels:
    {{- include "nexus.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  podSelector:
    matchLabels:
      {{- include "nexus.selectorLabels" (list .root .component) | nindent 6 }}
  policyTypes: [Egress]
  egress:
    # DNS: the cluster's resolver.
    - to:
        {{- toYaml .root.Values.quota.networkPolicy.egress.dns | nindent 8 }}
      ports:
        - {port: 53, protocol: UDP}
        - {port: 53, protocol: TCP}
    # The server it syncs from (<key>.egress), over HTTPS.
    - to:
        {{- include "nexus.egress.ipBlocks" (dict "key" (printf "%s.egress.cidrs" .key) "cidrs" $egress.cidrs "public" true) | nindent 8 }}
      ports:
        - {port: {{ $egress.port }}, protocol: TCP}
{{- end -}}
