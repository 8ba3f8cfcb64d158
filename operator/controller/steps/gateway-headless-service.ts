import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { meta, names, selectorLabels } from './common.js';

/**
 * Headless Service of the gateway StatefulSet (its serviceName): stable per-pod DNS
 * `<pod>.<cluster>-gateway-headless` for gateway-to-gateway traffic, published even before
 * readiness so starting gateways can find each other.
 */
export function desiredGatewayHeadlessService(cluster: PCMCluster): KubeObject {
  const g = cluster.spec.gateways;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cluster, names(cluster.metadata.name).gatewayHeadless, 'gateway'),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(cluster, 'gateway'),
      ports: [
        { name: 'http', port: g.ports.http, targetPort: 'http', protocol: 'TCP' },
        { name: 'mqtt', port: g.ports.mqtt, targetPort: 'mqtt', protocol: 'TCP' },
      ],
    },
  };
}
