import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import { CONTAINER_SECURITY_CONTEXT, POD_SECURITY_CONTEXT, TMP_MOUNT, TMP_VOLUME, authSecretName, labels, meta, names, selectorLabels } from './common.js';
import { secretEnv } from './gateway-statefulset.js';

/**
 * The discovery Deployment: stateless replicas serving GET /v1/discovery/{id} from the
 * assignments ConfigMap, which they watch through the API (discovery/sources/kube.ts), so an
 * operator change reaches terminals on their next poll (issue 6, "Discovery from Kubernetes").
 * Environment names are discovery/config.ts's. Zero discovery replicas = no Deployment
 * (discovery runs elsewhere).
 */
export function desiredDiscoveryDeployment(cluster: PCMCluster): KubeObject | undefined {
  const d = cluster.spec.discovery;
  if (d.replicas === 0) return undefined;
  const n = names(cluster.metadata.name);
  const env: Record<string, unknown>[] = [
    { name: 'PCM_DISCOVERY_PORT', value: String(d.port) },
    { name: 'PCM_DISCOVERY_POLL_SECONDS', value: String(d.pollSeconds) },
    { name: 'PCM_GATEWAYS_CONFIG_MAP', value: n.assignments },
    { name: 'PCM_KUBE_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  ];
  env.push(secretEnv('PCM_TERMINAL_JWT_SECRET', authSecretName(cluster), 'jwtSecret'));
  const container: Record<string, unknown> = {
    name: 'discovery',
    image: cluster.spec.gateways.image,
    args: ['discovery'],
    ports: [{ name: 'http', containerPort: d.port, protocol: 'TCP' }],
    env,
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10 },
    securityContext: CONTAINER_SECURITY_CONTEXT,
    volumeMounts: [TMP_MOUNT],
  };
  if (cluster.spec.gateways.imagePullPolicy) container.imagePullPolicy = cluster.spec.gateways.imagePullPolicy;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(cluster, n.discoveryDeployment, 'discovery'),
    spec: {
      replicas: d.replicas,
      selector: { matchLabels: selectorLabels(cluster, 'discovery') },
      template: {
        metadata: { labels: labels(cluster, 'discovery') },
        spec: { serviceAccountName: n.discoveryServiceAccount, securityContext: POD_SECURITY_CONTEXT, containers: [container], volumes: [TMP_VOLUME] },
      },
    },
  };
}
