import { createHash } from 'node:crypto';
import { API_VERSION, KIND, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, MANAGER } from '../../api/group.js';
import type { PCMCluster } from '../../api/schema.js';
import type { OwnerReference } from '../../kube/object.js';

/**
 * Names, labels and owner references shared by the builders (DESIGN.md section 7: one file
 * per owned resource, each a pure `desiredX(cluster)`). Every child carries a controller
 * owner reference so deleting the PCMCluster garbage-collects it.
 */
export type Component = 'gateway' | 'discovery' | 'assignments';

export const names = (cluster: string) => ({
  gatewayStatefulSet: `${cluster}-gateway`,
  gatewayHeadless: `${cluster}-gateway-headless`,
  gatewayApi: `${cluster}-gateway`,
  gatewayMqtt: `${cluster}-gateway-mqtt`,
  gatewayPdb: `${cluster}-gateway`,
  discoveryDeployment: `${cluster}-discovery`,
  discoveryService: `${cluster}-discovery`,
  discoveryServiceAccount: `${cluster}-discovery`,
  discoveryRole: `${cluster}-discovery`,
  assignments: `${cluster}-assignments`,
  /** Default auth Secret when spec.auth is not given (gateways and discovery refuse to start without these keys). */
  authSecret: `${cluster}-auth`,
});

export const authSecretName = (c: PCMCluster) => c.spec.auth?.secretName ?? names(c.metadata.name).authSecret;

/** Gateway id = StatefulSet pod name: stable across restarts, carries the ordinal. */
export const gatewayId = (cluster: string, ordinal: number) => `${names(cluster).gatewayStatefulSet}-${ordinal}`;

/** Data key of the assignments ConfigMap (the discovery source's default key). */
export const ASSIGNMENTS_KEY = 'gateways.json';
/** Where gateway pods see the assignments ConfigMap (PCM_ASSIGNMENTS_FILE). */
export const ASSIGNMENTS_MOUNT_DIR = '/etc/pcm/assignments';

export function selectorLabels(cluster: PCMCluster, component: Component): Record<string, string> {
  return { [LABEL_NAME]: 'pcm', [LABEL_INSTANCE]: cluster.metadata.name, [LABEL_COMPONENT]: component };
}

export function labels(cluster: PCMCluster, component: Component): Record<string, string> {
  return { ...selectorLabels(cluster, component), [LABEL_MANAGED_BY]: MANAGER };
}

/** `k=v,k=v` (sorted), the form of status.selector the scale subresource reports. */
export function selectorString(sel: Record<string, string>): string {
  return Object.keys(sel)
    .sort()
    .map((k) => `${k}=${sel[k]}`)
    .join(',');
}

export function ownerRef(cluster: PCMCluster): OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: cluster.metadata.name, uid: cluster.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export function meta(cluster: PCMCluster, name: string, component: Component) {
  return { name, namespace: cluster.metadata.namespace, labels: labels(cluster, component), ownerReferences: [ownerRef(cluster)] };
}

/** Stable hash of JSON data with sorted keys (generation bookkeeping, desired-state hashes). */
export function stableHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Pod hardening for gateway and discovery pods (issue 7: non-root, read-only root
 * filesystem, no privilege escalation, no capabilities). The image's user is uid 1000
 * (Dockerfile); tsx compiles into the OS temp dir, so /tmp is an emptyDir (docs/image.md).
 */
export const POD_SECURITY_CONTEXT = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } };
export const CONTAINER_SECURITY_CONTEXT = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
export const TMP_VOLUME = { name: 'tmp', emptyDir: {} };
export const TMP_MOUNT = { name: 'tmp', mountPath: '/tmp' };
/** Gateway data dir (SQLite store when no Couchbase is configured, dev secrets): writable, per pod. */
export const DATA_DIR = '/var/lib/pcm';
export const DATA_VOLUME = { name: 'data', emptyDir: {} };
export const DATA_MOUNT = { name: 'data', mountPath: DATA_DIR };
