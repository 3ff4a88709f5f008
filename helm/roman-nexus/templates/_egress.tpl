{{- /*
Egress rules of the quota workloads (networkpolicy-egress.yaml). Every ipBlock is IPv4 (so no
IPv6 destination, fd00:ec2::254 included, is ever open) and never reaches the instance metadata
service: a CIDR that holds 169.254.169.254 gets it (or all of link-local) in `except`.
*/ -}}

{{- /* "nexus.cidr.parse" (dict "cidr" "10.0.0.0/8" "key" <values key> "out" $dict): sets
"ip" (an integer) and "bits" in $dict; fails, naming the key, on anything else. */ -}}
{{- define "nexus.cidr.parse" -}}
{{- $cidr := toString .cidr -}}
{{- $parts := regexFindAll "[0-9]+" $cidr -1 -}}
{{- if or (not (regexMatch "^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$" $cidr)) (gt (atoi (index $parts 4)) 32) }}
{{- fail (printf "%s: %q is not an IPv4 CIDR like 10.0.0.0/16" .key $cidr) }}
{{- end }}
{{- $ip := 0 -}}
{{- range $octet := slice $parts 0 4 }}
{{- if gt (atoi $octet) 255 }}{{ fail (printf "%s: %q is not an IPv4 CIDR like 10.0.0.0/16" $.key $cidr) }}{{ end }}
{{- $ip = add (mul $ip 256) (atoi $octet) -}}
{{- end }}
{{- $bits := atoi (index $parts 4) -}}
{{- if mod $ip (include "nexus.cidr.size" $bits | atoi) }}
{{- fail (printf "%s: %q has host bits set; write the network address (e.g. 10.0.0.0/16)" .key $cidr) }}
{{- end }}
{{- $_ := set .out "ip" $ip -}}
{{- $_ := set .out "bits" $bits -}}
{{- end -}}

{{- /* How many addresses a /bits block holds: 2^(32-bits). */ -}}
{{- define "nexus.cidr.size" -}}
{{- $n := 1 -}}
{{- range until (sub 32 (int .) | int) }}{{ $n = mul $n 2 }}{{ end -}}
{{- $n -}}
{{- end -}}

{{- /* "nexus.cidr.within" (list $inner $outer): "true" when the block $inner lies in $outer. */ -}}
{{- define "nexus.cidr.within" -}}
{{- $in := dict -}}{{- $_ := include "nexus.cidr.parse" (dict "cidr" (index . 0) "key" "cidr" "out" $in) -}}
{{- $out := dict -}}{{- $_ := include "nexus.cidr.parse" (dict "cidr" (index . 1) "key" "cidr" "out" $out) -}}
{{- if ge (int $in.bits) (int $out.bits) -}}
{{- $size := include "nexus.cidr.size" $out.bits | atoi -}}
{{- if eq (div $in.ip $size) (div $out.ip $size) }}true{{ end -}}
{{- end -}}
{{- end -}}

{{- /*
"nexus.egress.ipBlocks" (dict "key" <values key> "cidrs" list "public" bool): NetworkPolicyPeers.
`public`: private, shared (100.64/10) and link-local space inside a CIDR is excepted, so
0.0.0.0/0 means the internet. Always: link-local inside a CIDR is excepted, and a CIDR within
link-local that holds the metadata address excepts it, or fails when it is nothing else.
*/ -}}
{{- define "nexus.egress.ipBlocks" -}}
{{- $metadata := "169.254.169.254/32" -}}
{{- $blocked := list "169.254.0.0/16" -}}
{{- if .public }}{{ $blocked = concat (list "10.0.0.0/8" "100.64.0.0/10" "172.16.0.0/12" "192.168.0.0/16") $blocked }}{{ end -}}
{{- range $i, $cidr := .cidrs }}
{{- $key := printf "%s[%d]" $.key $i -}}
{{- $parsed := dict -}}{{- $_ := include "nexus.cidr.parse" (dict "cidr" $cidr "key" $key "out" $parsed) -}}
{{- $except := list -}}
{{- range $block := $blocked }}
{{- if and (include "nexus.cidr.within" (list $block $cidr)) (ne $block (toString $cidr)) }}{{ $except = append $except $block }}{{ end -}}
{{- end }}
{{- if and (include "nexus.cidr.within" (list $metadata $cidr)) (not (has "169.254.0.0/16" $except)) }}
{{- if eq (toString $cidr) $metadata }}
{{- fail (printf "%s: %s is the instance metadata service, which no workload of the chart may reach" $key $metadata) }}
{{- end }}
{{- $except = append $except $metadata -}}
{{- end }}
- ipBlock:
    cidr: {{ $cidr }}
    {{- with $except }}
    except:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- end -}}

{{- /*
"nexus.egress.rules" (dict "root" $ "dns" true "database" true "hub" bool "smtp" bool "aws" bool):
the egress rules of one workload, from quota.networkPolicy.egress.
*/ -}}
{{- define "nexus.egress.rules" -}}
{{- $root := .root -}}
{{- $egress := $root.Values.quota.networkPolicy.egress -}}
{{- $key := "quota.networkPolicy.egress" -}}
# DNS: the cluster's resolver.
- to:
    {{- toYaml $egress.dns | nindent 4 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
# PostgreSQL.
- to:
    {{- include "nexus.egress.ipBlocks" (dict "key" (printf "%s.database.cidrs" $key) "cidrs" $egress.database.cidrs "public" false) | nindent 4 }}
  ports:
    - {port: {{ $egress.database.port }}, protocol: TCP}
{{- if .hub }}
# The hub's API (z2jh's hub pod).
- to:
    - podSelector:
        matchLabels:
          {{- include "nexus.z2jh.podSelector" (list $root "hub") | nindent 10 }}
  ports:
    - {port: 8081, protocol: TCP}
{{- end }}
{{- if .smtp }}
# The SMTP relay of quota.config.smtp.
- to:
    {{- include "nexus.egress.ipBlocks" (dict "key" (printf "%s.smtp.cidrs" $key) "cidrs" $egress.smtp.cidrs "public" true) | nindent 4 }}
  ports:
    - {port: {{ $egress.smtp.port | default $root.Values.quota.config.smtp.port }}, protocol: TCP}
{{- end }}
{{- if .aws }}
# S3 (the archive bucket) and STS (IRSA's web-identity exchange), over HTTPS.
- to:
    {{- include "nexus.egress.ipBlocks" (dict "key" (printf "%s.aws.cidrs" $key) "cidrs" $egress.aws.cidrs "public" true) | nindent 4 }}
  ports:
    - {port: {{ $egress.aws.port }}, protocol: TCP}
{{- end }}
{{- end -}}
