import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import {
  ASSIGNMENTS_KEY, ASSIGNMENTS_MOUNT_DIR, CONTAINER_SECURITY_CONTEXT, DATA_DIR, DATA_MOUNT, DATA_VOLUME, POD_SECURITY_CONTEXT, TMP_MOUNT, TMP_VOLUME,
  authSecretName, meta, names, selectorLabels, labels,
} from './common.js';

/**
 * The gateway StatefulSet (DESIGN.md section 3: routing needs stable gateway ids). The pod
 * name `<cluster>-gateway-<ordinal>` is the gateway id (PCM_GATEWAY_ID, from the downward
 * API), the presence records in the session directory name it, and the relay addresses it.
 *
 * `replicas` comes from the drain plan (drain.ts), not straight from the spec: on
 * scale-down the StatefulSet keeps its leaving pods until they have drained.
 *
 * The assignments ConfigMap is mounted read-only at /etc/pcm/assignments; a gateway finds
 * its own entry (`id` = its pod name) in gateways.json and evacuates when `draining` is true.
 */
export function envFor(cluster: PCMCluster): Record<string, unknown>[] {
  const s = cluster.spec;
  const env: Record<string, unknown>[] = [
    { name: 'PCM_GATEWAY_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'PCM_KUBE_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'PCM_HTTP_PORT', value: String(s.gateways.ports.http) },
    { name: 'PCM_MQTT_PORT', value: String(s.gateways.ports.mqtt) },
    // No PCM_PROTOCOLS: a gateway always serves WebSocket and MQTT (gateway/config.ts has no
    // such key); `spec.gateways.protocols` decides which Services and URLs are published.
    { name: 'PCM_DATA_DIR', value: DATA_DIR },
    { name: 'PCM_MAX_SESSIONS', value: String(s.gateways.maxSessionsPerPod) },
    { name: 'PCM_DRAIN_SECONDS', value: String(s.gateways.drainSeconds) },
    { name: 'PCM_ASSIGNMENTS_FILE', value: `${ASSIGNMENTS_MOUNT_DIR}/${ASSIGNMENTS_KEY}` },
    { name: 'PCM_MAX_TTL_SECONDS', value: String(s.limits.maxTtlSeconds) },
    { name: 'PCM_MAX_PAYLOAD_BYTES', value: String(s.limits.maxPayloadBytes) },
    { name: 'PCM_MAX_PENDING_PER_TERMINAL', value: String(s.limits.maxPendingPerTerminal) },
  ];
  if (s.kafka) {
    env.push({ name: 'PCM_RELAY', value: 'kafka' }, { name: 'PCM_KAFKA_BROKERS', value: s.kafka.brokers.join(',') }, { name: 'PCM_KAFKA_TOPIC_PREFIX', value: s.kafka.topicPrefix });
  }
  if (s.couchbase) {
    env.push(
      { name: 'PCM_STORE', value: 'couchbase' },
      { name: 'PCM_COUCHBASE_CONNECTION_STRING', value: s.couchbase.connectionString },
      { name: 'PCM_COUCHBASE_BUCKET', value: s.couchbase.bucket },
      { name: 'PCM_COUCHBASE_SCOPE', value: s.couchbase.scope },
      { name: 'PCM_COUCHBASE_COLLECTION', value: s.couchbase.collection },
      { name: 'PCM_COUCHBASE_DURABILITY', value: s.couchbase.durability },
    );
    if (s.couchbase.credentialsSecret) {
      env.push(secretEnv('PCM_COUCHBASE_USERNAME', s.couchbase.credentialsSecret, 'username'), secretEnv('PCM_COUCHBASE_PASSWORD', s.couchbase.credentialsSecret, 'password'));
    }
  }
  // Both are required by the gateway's config; a missing Secret shows as CreateContainerConfigError on the pod.
  const auth = authSecretName(cluster);
  env.push(secretEnv('PCM_TERMINAL_JWT_SECRET', auth, 'jwtSecret'), secretEnv('PCM_API_KEYS', auth, 'apiKeys'));
  return env;
}

export const secretEnv = (name: string, secret: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });

export function desiredGatewayStatefulSet(cluster: PCMCluster, replicas: number): KubeObject {
  const g = cluster.spec.gateways;
  const n = names(cluster.metadata.name);
  const container: Record<string, unknown> = {
    name: 'gateway',
    image: g.image,
    args: ['gateway'],
    ports: [
      { name: 'http', containerPort: g.ports.http, protocol: 'TCP' },
      { name: 'mqtt', containerPort: g.ports.mqtt, protocol: 'TCP' },
    ],
    env: envFor(cluster),
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
    volumeMounts: [{ name: 'assignments', mountPath: ASSIGNMENTS_MOUNT_DIR, readOnly: true }, TMP_MOUNT, DATA_MOUNT],
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };
  if (g.imagePullPolicy) container.imagePullPolicy = g.imagePullPolicy;
  if (g.resources) container.resources = g.resources;
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(cluster, n.gatewayStatefulSet, 'gateway'),
    spec: {
      replicas,
      serviceName: n.gatewayHeadless,
      // Pods start and stop together; ordering is handled by the drain plan, not by the StatefulSet.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(cluster, 'gateway') },
      template: {
        metadata: { labels: labels(cluster, 'gateway') },
        spec: {
          // A drained gateway has nothing left to evacuate; a SIGTERM still gets time to close sessions with a drain frame.
          terminationGracePeriodSeconds: 30,
          securityContext: POD_SECURITY_CONTEXT,
          containers: [container],
          volumes: [{ name: 'assignments', configMap: { name: n.assignments } }, TMP_VOLUME, DATA_VOLUME],
        },
      },
    },
  };
}
