{{/* Helpers shared by the chart's templates: labels and image references. */}}

{{/* Labels of every object's metadata: the kustomize tree's (name, part-of)
     plus Helm's bookkeeping. Selectors use codecourt.selector only, so they
     are the kustomize tree's and never change between chart versions. */}}
{{- define "codecourt.labels" -}}
{{ include "codecourt.selector" . }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "codecourt.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: codecourt
{{- end -}}

{{/* codecourt/<image>:<tag>, with the registry prefix when one is set. */}}
{{- define "codecourt.image" -}}
{{- $v := .root.Values.image -}}
{{- $repo := printf "codecourt/%s" .image -}}
{{- if $v.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" $v.registry) $repo }}{{ end -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $v.tag) -}}
{{- end -}}

{{/* The probes of every CodeCourt process: the runtime's /readyz and /healthz
     on the metrics port. */}}
{{- define "codecourt.probes" -}}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  failureThreshold: 3
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 3
{{- end -}}

{{/* The NATS user (the service's name) and its password. */}}
{{- define "codecourt.natsEnv" -}}
- name: CC_NATS_USER
  value: {{ .name }}
- name: CC_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.secrets.natsUsers }}
      key: {{ .key }}
{{- end -}}

{{/* The tls:// URL of every server, for CC_NATS_URL. */}}
{{- define "codecourt.natsUrls" -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.nats.replicas) -}}
{{- $urls = append $urls (printf "tls://cc-nats-%d.cc-nats-headless:4222" $i) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/* A PodDisruptionBudget allowing one pod at a time to go. */}}
{{- define "codecourt.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "codecourt.labels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "codecourt.selector" . | nindent 6 }}
{{- end -}}

{{/* The names a NATS server's certificate must hold: the Service, and every
     server of the headless Service (clients and routes dial those). */}}
{{- define "codecourt.natsDnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- list "cc-nats" (printf "cc-nats.%s.svc" $ns) "*.cc-nats-headless" (printf "*.cc-nats-headless.%s.svc" $ns) (printf "*.cc-nats-headless.%s.svc.cluster.local" $ns) | toJson -}}
{{- end -}}

{{- define "codecourt.postgresDnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- list "cc-postgres" (printf "cc-postgres.%s.svc" $ns) (printf "cc-postgres.%s.svc.cluster.local" $ns) | toJson -}}
{{- end -}}

{{/* The CA mounts of a service's container (NATS always, PostgreSQL's when
     it has a database) and their volumes: ca.crt alone of each Secret. */}}
{{- define "codecourt.caMounts" -}}
- name: nats-ca
  mountPath: /etc/codecourt/nats-ca
  readOnly: true
{{- if .pg }}
- name: pg-ca
  mountPath: /etc/codecourt/pg-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "codecourt.caVolumes" -}}
- name: nats-ca
  secret:
    secretName: {{ .root.Values.secrets.natsTls }}
    items:
      - key: ca.crt
        path: ca.crt
{{- if .pg }}
- name: pg-ca
  secret:
    secretName: {{ .root.Values.secrets.postgresTls }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}
