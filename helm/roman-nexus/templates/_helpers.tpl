{{- /*
Names of this chart's own objects. Every name is defined here once; templates never spell one.
*/ -}}

{{- define "nexus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nexus.quota.name" -}}{{ include "nexus.fullname" . }}-quota{{- end -}}
{{- define "nexus.quota.configName" -}}{{ include "nexus.fullname" . }}-quota-config{{- end -}}
{{- define "nexus.quota.serviceAccountName" -}}{{ include "nexus.fullname" . }}-quota{{- end -}}
{{- define "nexus.user.serviceAccountName" -}}{{ include "nexus.fullname" . }}-user{{- end -}}
{{- define "nexus.secretName" -}}{{ include "nexus.fullname" . }}-secrets{{- end -}}
{{- define "nexus.migrate.name" -}}{{ include "nexus.fullname" . }}-quota-migrate{{- end -}}
{{- define "nexus.efs.pvName" -}}{{ include "nexus.fullname" . }}-efs-{{ .Release.Namespace }}{{- end -}}
{{- define "nexus.efs.pvcName" -}}{{ include "nexus.fullname" . }}-efs{{- end -}}
{{- define "nexus.job.name" -}}{{ include "nexus.fullname" (index . 0) }}-{{ index . 1 }}{{- end -}}

{{- define "nexus.efs.storageClassName" -}}
{{- .Values.efs.storageClass.name -}}
{{- end -}}

{{- /* The quota service's URL inside the namespace, as the hub and the proxy reach it. */ -}}
{{- define "nexus.quota.url" -}}
http://{{ include "nexus.quota.name" . }}:{{ include "nexus.quota.port" . }}
{{- end -}}
{{- define "nexus.quota.port" -}}10101{{- end -}}
{{- define "nexus.quota.basePath" -}}/services/quota/{{- end -}}

{{- /*
With JupyterHub's subdomain_host every service has its own host, quota--service.<hub host>
(JupyterHub's default "idna" subdomain hook); "" without it.
*/ -}}
{{- define "nexus.quota.origin" -}}
{{- $subdomain := dig "hub" "config" "JupyterHub" "subdomain_host" "" .Values.jupyterhub | default "" | toString -}}
{{- if $subdomain -}}https://quota--service.{{ trimPrefix "https://" $subdomain }}{{- end -}}
{{- end -}}

{{- /* Where jobs mount EFS. */ -}}
{{- define "nexus.mount.homes" -}}/srv/nexus/homes{{- end -}}
{{- define "nexus.mount.scratch" -}}/srv/nexus/scratch{{- end -}}
{{- define "nexus.mount.purgeState" -}}/srv/nexus/purge-state{{- end -}}
{{- define "nexus.mount.config" -}}/etc/nexus-quota{{- end -}}

{{- define "nexus.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: roman-nexus
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- /* Selector labels: (list $ "component") */ -}}
{{- define "nexus.selectorLabels" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "nexus.quota.image" -}}
{{ .Values.quota.image.repository }}:{{ .Values.quota.image.tag }}
{{- end -}}

{{- /* The labels z2jh 4.4.0 puts on the pods of one of its components: (list $ "hub"). */ -}}
{{- define "nexus.z2jh.podSelector" -}}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/name: {{ (index . 0).Values.jupyterhub.nameOverride | default "jupyterhub" }}
{{- end -}}

{{- /* Non-root, read-only, no capabilities: the default of every container here. */ -}}
{{- define "nexus.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- /* Environment shared by the service and its jobs: the settings file and the database.
Each other secret goes only to the workload that uses it. */ -}}
{{- define "nexus.quota.env" -}}
- name: NEXUS_QUOTA_CONFIG
  value: {{ include "nexus.mount.config" . }}/config.yaml
- name: NEXUS_QUOTA_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "nexus.secretName" . }}
      key: database-url
{{- end -}}

{{- /* The session cookies' key: the Deployment only. */ -}}
{{- define "nexus.quota.env.sessionSecret" -}}
- name: NEXUS_QUOTA_SESSION_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "nexus.secretName" . }}
      key: session-secret
{{- end -}}

{{- /* The SMTP password: purge-notify only (the one workload that sends e-mail). */ -}}
{{- define "nexus.quota.env.smtpPassword" -}}
- name: NEXUS_QUOTA_SMTP__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "nexus.secretName" . }}
      key: smtp-password
      optional: true
{{- end -}}

{{- /* The config volume (settings file and tier policy) and a writable /tmp. */ -}}
{{- define "nexus.quota.volumes" -}}
- name: config
  configMap:
    name: {{ include "nexus.quota.configName" . }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end -}}

{{- define "nexus.quota.volumeMounts" -}}
- name: config
  mountPath: {{ include "nexus.mount.config" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}
