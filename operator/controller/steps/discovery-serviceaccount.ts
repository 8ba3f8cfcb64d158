import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { meta, names } from './common.js';

/** The identity discovery pods watch the assignments ConfigMap with (see discovery-role.ts). */
export function desiredDiscoveryServiceAccount(cluster: PCMCluster): KubeObject | undefined {
  if (cluster.spec.discovery.replicas === 0) return undefined;
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(cluster, names(cluster.metadata.name).discoveryServiceAccount, 'discovery') };
}
