import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { buildCrd } from '../../../operator/api/crd.js';
import { API_VERSION, CRD_NAME, KIND } from '../../../operator/api/group.js';
import { KubeClient, isConflict } from '../../../operator/kube/client.js';
import type { KubeObject, ObjectRef } from '../../../operator/kube/object.js';

/**
 * Shared by the operator integration tests: a client on the test bed's real kube-apiserver
 * (test/services/kube.sh), the CRD installed from the same builder as the chart's file, and
 * one namespace per test file so files never see each other's objects.
 */
export function kubeClient(kubeconfigPath: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return new KubeClient(kc, { fieldManager: 'pcm-test' });
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Installs (or updates) the CRD and waits until the API server serves it. */
export async function installCrd(kube: KubeClient): Promise<void> {
  const crd = buildCrd() as unknown as KubeObject;
  const existing = await kube.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: CRD_NAME });
  if (!existing) {
    try {
      await kube.create(crd);
    } catch (err) {
      if (!isConflict(err)) throw err; // a parallel test file created it
    }
  } else {
    await kube.applyObject(crd);
  }
  await until('CRD established', async () => {
    const c = await kube.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: CRD_NAME });
    const conds = ((c?.status as { conditions?: { type: string; status: string }[] })?.conditions ?? []);
    return conds.some((x) => x.type === 'Established' && x.status === 'True');
  });
  // The discovery document can lag the Established condition by a moment.
  await until('PCMCluster endpoint', () => kube.list(API_VERSION, KIND, 'default').then(() => true));
}

export async function createNamespace(kube: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

export async function deleteNamespace(kube: KubeClient, name: string): Promise<void> {
  await kube.delete({ apiVersion: 'v1', kind: 'Namespace', name }).catch(() => undefined);
}

export function clusterObject(namespace: string, name: string, gateways: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace },
    spec: { gateways: { image: 'ghcr.io/pcm/pcm:0.1.0', public: { hostTemplate: 'gw-{ordinal}.pcm.example.com' }, ...gateways }, ...extra },
  };
}

export const clusterRefOf = (namespace: string, name: string): ObjectRef => ({ apiVersion: API_VERSION, kind: KIND, namespace, name });

/** Every object the operator owns in a namespace, as `Kind/name` (sorted), for exact-set assertions. */
export async function ownedObjects(kube: KubeClient, namespace: string): Promise<string[]> {
  const kinds: [string, string][] = [
    ['v1', 'ConfigMap'],
    ['v1', 'Service'],
    ['v1', 'ServiceAccount'],
    ['apps/v1', 'StatefulSet'],
    ['apps/v1', 'Deployment'],
    ['policy/v1', 'PodDisruptionBudget'],
    ['rbac.authorization.k8s.io/v1', 'Role'],
    ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
  ];
  const out: string[] = [];
  for (const [apiVersion, kind] of kinds) {
    const list = await kube.list(apiVersion, kind, namespace, { labelSelector: 'app.kubernetes.io/managed-by=pcm-operator' });
    for (const o of list.items) if (!o.metadata.deletionTimestamp) out.push(`${kind}/${o.metadata.name}`);
  }
  return out.sort();
}

export function expectedObjects(name: string, opts: { mqtt?: boolean; pdb?: boolean; discovery?: boolean } = {}): string[] {
  const { mqtt = true, pdb = true, discovery = true } = opts;
  return [
    `ConfigMap/${name}-assignments`,
    `Service/${name}-gateway`,
    `Service/${name}-gateway-headless`,
    ...(mqtt ? [`Service/${name}-gateway-mqtt`] : []),
    `StatefulSet/${name}-gateway`,
    ...(pdb ? [`PodDisruptionBudget/${name}-gateway`] : []),
    ...(discovery ? [`ServiceAccount/${name}-discovery`, `Role/${name}-discovery`, `RoleBinding/${name}-discovery`, `Deployment/${name}-discovery`, `Service/${name}-discovery`] : []),
  ].sort();
}

type Workload = KubeObject & { spec: { replicas: number }; status?: { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number } };

/**
 * Under kube-full the StatefulSet and Deployment controllers keep changing the workloads'
 * status (pods come and go), and the PCMCluster status rightly follows. Before asserting
 * "a pass with nothing changed writes nothing" the tests wait for those controllers to
 * finish (status matches spec, no pod terminating); on a bare API server this returns at once.
 */
export async function settle(kube: KubeClient, namespace: string, full: boolean): Promise<void> {
  if (!full) return;
  await until(
    'workloads settled',
    async () => {
      for (const kind of ['StatefulSet', 'Deployment']) {
        for (const w of (await kube.list<Workload>('apps/v1', kind, namespace)).items) {
          const s = w.status ?? {};
          const want = w.spec.replicas;
          if ((s.observedGeneration ?? 0) < (w.metadata.generation ?? 0) || (s.replicas ?? 0) !== want || (s.readyReplicas ?? 0) !== want || (s.updatedReplicas ?? 0) !== want) return false;
        }
      }
      const pods = await kube.list('v1', 'Pod', namespace);
      return pods.items.every((p) => !p.metadata.deletionTimestamp);
    },
    60_000,
    100,
  );
}

const gatewayPodRef = (namespace: string, cluster: string, ordinal: number): ObjectRef => ({ apiVersion: 'v1', kind: 'Pod', namespace, name: `${cluster}-gateway-${ordinal}` });

/**
 * Gateway pod `ordinal` of PCMCluster `cluster`. Under kube-full the StatefulSet controller
 * creates it and kwok runs it: wait for that. A bare API server runs no controller, so a
 * stand-in is created, named and labelled as the StatefulSet would (and the `default`
 * ServiceAccount the admission plugin wants, since no controller makes that either).
 */
export async function gatewayPod(kube: KubeClient, namespace: string, cluster: string, ordinal: number, full: boolean): Promise<KubeObject> {
  const ref = gatewayPodRef(namespace, cluster, ordinal);
  if (full) {
    return until(`pod ${ref.name} running`, async () => {
      const p = await kube.get(ref);
      return !p?.metadata.deletionTimestamp && (p?.status as { phase?: string } | undefined)?.phase === 'Running' && p;
    }, 60_000);
  }
  const existing = await kube.get(ref);
  if (existing) return existing;
  const sa = { apiVersion: 'v1', kind: 'ServiceAccount', namespace, name: 'default' };
  if (!(await kube.get(sa))) await kube.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } });
  return kube.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: ref.name,
      namespace,
      labels: { 'app.kubernetes.io/name': 'pcm', 'app.kubernetes.io/instance': cluster, 'app.kubernetes.io/component': 'gateway', 'app.kubernetes.io/managed-by': 'pcm-operator' },
    },
    spec: { containers: [{ name: 'gateway', image: 'ghcr.io/pcm/pcm:0.2.0' }] },
  });
}

/**
 * Sets the pod's Ready condition, as its readiness probe would (kwok's stages only make a
 * Pending pod Ready, so a Running pod keeps what is set here). `at` is the transition time.
 */
export async function setGatewayPodReady(kube: KubeClient, namespace: string, cluster: string, ordinal: number, ready: boolean, opts: { full: boolean; at?: number }): Promise<void> {
  const pod = await gatewayPod(kube, namespace, cluster, ordinal, opts.full);
  const cond = ((pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
  if (cond?.status === (ready ? 'True' : 'False')) return;
  const lastTransitionTime = new Date(opts.at ?? Date.now()).toISOString();
  await kube.mergePatch(gatewayPodRef(namespace, cluster, ordinal), { status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime }] } }, 'status');
}

export async function gatewayPodsReady(kube: KubeClient, namespace: string, cluster: string, ordinals: number[], opts: { full: boolean; at?: number }): Promise<void> {
  for (const o of ordinals) await setGatewayPodReady(kube, namespace, cluster, o, true, opts);
}
