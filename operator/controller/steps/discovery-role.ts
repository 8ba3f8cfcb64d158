import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { meta, names } from './common.js';

/**
 * Least privilege for discovery: read and watch the one assignments ConfigMap, nothing else
 * (list/watch with resourceNames needs the watch to use fieldSelector metadata.name=…, which
 * discovery/sources/kube.ts does).
 */
export function desiredDiscoveryRole(cluster: PCMCluster): KubeObject | undefined {
  if (cluster.spec.discovery.replicas === 0) return undefined;
  const n = names(cluster.metadata.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(cluster, n.discoveryRole, 'discovery'),
    rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [n.assignments], verbs: ['get', 'list', 'watch'] }],
  };
}
