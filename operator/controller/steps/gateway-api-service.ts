import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { meta, names, selectorLabels } from './common.js';

/** The sender HTTP API (and in-cluster WebSocket) on one ClusterIP: any gateway accepts a send (DESIGN.md section 3). */
export function desiredGatewayApiService(cluster: PCMCluster): KubeObject {
  const g = cluster.spec.gateways;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cluster, names(cluster.metadata.name).gatewayApi, 'gateway'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cluster, 'gateway'),
      ports: [{ name: 'http', port: g.ports.http, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
