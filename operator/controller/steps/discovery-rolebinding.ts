import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { meta, names } from './common.js';

/** Binds discovery-role.ts to discovery-serviceaccount.ts. */
export function desiredDiscoveryRoleBinding(cluster: PCMCluster): KubeObject | undefined {
  if (cluster.spec.discovery.replicas === 0) return undefined;
  const n = names(cluster.metadata.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(cluster, n.discoveryRole, 'discovery'),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: n.discoveryRole },
    subjects: [{ kind: 'ServiceAccount', name: n.discoveryServiceAccount, namespace: cluster.metadata.namespace }],
  };
}
