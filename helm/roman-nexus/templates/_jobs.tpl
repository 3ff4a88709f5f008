{{- /*
The quota service's scheduled jobs, as one table (JSON) that cronjobs.yaml, the jobs' service
accounts and their egress policies all read: `include "nexus.jobs" . | fromJsonArray`.
What each one runs, mounts and may reach is fixed here, not in values:
  job            homes and scratch   purge state   also reaches
  scan           read-only           -             -
  purge-plan     read-only           read-write    -
  purge-notify   -                   read-write    SMTP (quota.config.smtp.host)
  purge-execute  read-write          read-write    S3 + STS (the archive bucket, its own IAM role)
With team folders on, scan and purge-plan also mount the teams-admin claim read-only (the
folders are 3770 root:<gid> with members' files: only the 0:0 access point reads them all) and
purge-execute read-write (it archives and removes a removed team's folder).
scan and purge-plan are Indexed Jobs ("indexed"): completions = jobs.<key>.shards, each pod
measures or plans its shard (JOB_COMPLETION_INDEX; docs/storage.md "Shards").
  reconcile      -                   -             the hub API (the quota-jobs token)
  expire         -                   -             -
  teams-sync     -                   -             - (mounts the teams-admin claim: _teams.tpl)
Every job reaches DNS and PostgreSQL. Jobs that mount EFS run as the notebook user (the access
point makes every EFS operation that uid anyway); the others as the quota service's user.
No job runs as root and none adds a capability.
*/ -}}
{{- define "nexus.jobs" -}}
{{- $execute := list "nexus-quota" "purge" "execute" -}}
{{- if .Values.jobs.purgeExecute.confirm }}{{ $execute = append $execute "--yes" }}{{ end -}}
{{- $all := list
  (dict "key" "scan" "name" "quota-scan" "args" (list "nexus-quota" "scan") "data" "ro" "state" false "teamsData" "ro" "indexed" "NEXUS_SCAN_RUN_ID")
  (dict "key" "purgePlan" "name" "quota-purge-plan" "args" (list "nexus-quota" "purge" "plan") "data" "ro" "state" true "teamsData" "ro" "indexed" "NEXUS_PURGE_RUN_ID")
  (dict "key" "purgeNotify" "name" "quota-purge-notify" "args" (list "nexus-quota" "purge" "notify") "data" "" "state" true "smtp" true)
  (dict "key" "purgeExecute" "name" "quota-purge-execute" "args" $execute "data" "rw" "state" true "aws" true "teamsData" "rw")
  (dict "key" "reconcile" "name" "quota-reconcile" "args" (list "nexus-quota" "reconcile") "data" "" "state" false "hub" true)
  (dict "key" "expire" "name" "quota-expire" "args" (list "nexus-quota" "expire") "data" "" "state" false)
  (dict "key" "teamsSync" "name" "quota-teams-sync" "args" (list "nexus-quota" "teams" "sync") "data" "" "state" false "teams" true)
-}}
{{- $enabled := list -}}
{{- range $spec := $all }}
{{- if and (get $.Values.jobs $spec.key).enabled (or (not $spec.teams) (include "nexus.teams.enabled" $)) }}{{ $enabled = append $enabled $spec }}{{ end }}
{{- end }}
{{- toJson $enabled -}}
{{- end -}}

{{- /* The IAM role annotation of a service account: (list $annotations $roleArn). */ -}}
{{- define "nexus.serviceAccount.annotations" -}}
{{- $annotations := deepCopy (index . 0 | default dict) -}}
{{- with index . 1 }}{{ $_ := set $annotations "eks.amazonaws.com/role-arn" . }}{{ end -}}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
