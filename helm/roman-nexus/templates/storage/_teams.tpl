{{- /*
Team folders (docs/deploy.md, "Team folders on EFS"): on when efs.teamsAccessPointId is set.
Two more claims on the same file system, each through its own access point:
  <fullname>-teams        no POSIX user: user servers mount <teamsDir>/<team_dir> through it,
                          so their own uid and team gids reach EFS (the homes' access point
                          makes everything uid 1000 / gid 100);
  <fullname>-teams-admin  POSIX user 0:0: only the teams-sync CronJob mounts it, to give each
                          team folder owner root, group <gid> and mode 3770 while the job
                          itself runs as a non-root user without capabilities.
*/ -}}
{{- define "nexus.teams.enabled" -}}
{{- if and .Values.efs.enabled .Values.efs.teamsAccessPointId }}true{{ end -}}
{{- end -}}
{{- define "nexus.efs.teamsPvcName" -}}{{ include "nexus.fullname" . }}-teams{{- end -}}
{{- define "nexus.efs.teamsAdminPvcName" -}}{{ include "nexus.fullname" . }}-teams-admin{{- end -}}
{{- define "nexus.mount.teams" -}}/srv/nexus/teams{{- end -}}
