import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { meta, names, selectorLabels } from './common.js';

/** The discovery Service terminals reach (through the platform's ingress); absent with the Deployment. */
export function desiredDiscoveryService(cluster: PCMCluster): KubeObject | undefined {
  const d = cluster.spec.discovery;
  if (d.replicas === 0) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cluster, names(cluster.metadata.name).discoveryService, 'discovery'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cluster, 'discovery'),
      ports: [{ name: 'http', port: d.port, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
