import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { meta, names, selectorLabels } from './common.js';

/**
 * PodDisruptionBudget: voluntary disruptions (node drains) take at most one gateway at a
 * time, so at most ~1/N of the terminals reconnect at once. With fewer than two gateways a
 * budget would block node drains forever, so none is kept (undefined = delete).
 */
export function desiredGatewayPdb(cluster: PCMCluster): KubeObject | undefined {
  if (cluster.spec.gateways.replicas < 2) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(cluster, names(cluster.metadata.name).gatewayPdb, 'gateway'),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(cluster, 'gateway') } },
  };
}
