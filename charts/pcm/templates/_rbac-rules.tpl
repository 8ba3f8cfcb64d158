{{/*
The operator's permissions, kept to what reconcile really does (issue 7: least privilege).
Every rule is checked against the API server with SubjectAccessReviews in
test/integration/helm/, both what must be allowed and what must stay denied.
*/}}
{{- define "pcm.managerRules" -}}
# Informer on PCMClusters (list+watch) and a fresh read per reconcile (get); the spec is never written.
- apiGroups: ["pcm.dev"]
  resources: ["pcmclusters"]
  verbs: ["get", "list", "watch"]
# Status is written once per pass with a merge patch on the status subresource.
- apiGroups: ["pcm.dev"]
  resources: ["pcmclusters/status"]
  verbs: ["patch"]
# Children carry blockOwnerDeletion owner references to their PCMCluster; where the
# OwnerReferencesPermissionEnforcement admission plugin runs, that needs update on finalizers.
- apiGroups: ["pcm.dev"]
  resources: ["pcmclusters/finalizers"]
  verbs: ["update"]
# Owned and watched children: informers (list, watch), generic apply = get + server-side apply
# (patch; create when the object is new) + delete of what the spec no longer wants.
- apiGroups: ["apps"]
  resources: ["statefulsets", "deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Owned, not watched: discovery's ServiceAccount, its Role (read the one assignments ConfigMap)
# and RoleBinding. No escalate/bind needed: the operator holds the configmaps rights that Role grants.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "create", "patch", "delete"]
# Gateway pods (readiness, the pcm.dev/drained annotation): informer only.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# Kubernetes Events (core/v1) on the PCMCluster for what was created, deleted or failed.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* Leader election: one Lease in the release namespace (create cannot be limited by name). */}}
{{- define "pcm.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "pcm.leaseName" . | quote }}]
  verbs: ["get", "update"]
{{- end -}}
