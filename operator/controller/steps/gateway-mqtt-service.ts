import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { meta, names, selectorLabels } from './common.js';

/** The MQTT port on a ClusterIP; only when the cluster serves MQTT (undefined = the Service must not exist). */
export function desiredGatewayMqttService(cluster: PCMCluster): KubeObject | undefined {
  const g = cluster.spec.gateways;
  if (!g.protocols.includes('mqtt')) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cluster, names(cluster.metadata.name).gatewayMqtt, 'gateway'),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(cluster, 'gateway'),
      ports: [{ name: 'mqtt', port: g.ports.mqtt, targetPort: 'mqtt', protocol: 'TCP' }],
    },
  };
}
