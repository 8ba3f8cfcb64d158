import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needService } from '../../services/env.js';
import { ManualClock } from '../../../common/clock.js';
import { silentLogger } from '../../../common/logger.js';
import type { KubeClient } from '../../../operator/kube/client.js';
import type { KubeObject } from '../../../operator/kube/object.js';
import { reconcileCluster, type ReconcileOutcome } from '../../../operator/controller/reconcile.js';
import { EventRecorder } from '../../../operator/controller/events.js';
import type { PCMClusterStatus } from '../../../operator/api/schema.js';
import { clusterObject, clusterRefOf, createNamespace, deleteNamespace, expectedObjects, installCrd, kubeClient, ownedObjects, settle, gatewayPod, gatewayPodsReady, setGatewayPodReady } from './helpers.js';

/**
 * Issue 6 acceptance on the real kube-apiserver (no controllers needed): create, update,
 * scale through the scale subresource, pause, and delete each produce exactly the expected
 * objects, and a second pass with nothing changed writes nothing (writes counted at the
 * client, resourceVersions compared at the server).
 */
const kubeEnv = needService('kube', ['PCM_TEST_KUBECONFIG']);
const full = kubeEnv?.PCM_TEST_KUBE_FULL === '1';

type Sts = KubeObject & { spec: { replicas: number; template: { spec: { containers: { image: string }[] } } } };
type Doc = { generation: number; gateways: { id: string; draining: boolean; drainDeadline?: string; websocketUrl: string; ready?: false }[] };
/** The gateways discovery may assign: neither draining nor held back with ready: false. */
const assignable = (d: Doc) => d.gateways.filter((g) => !g.draining && g.ready !== false).map((g) => g.id);

describe.skipIf(!kubeEnv)('reconcile pass against a real kube-apiserver', { timeout: 120_000 }, () => {
  let kube: KubeClient;
  let ns: string;
  const clock = new ManualClock(Date.parse('2026-11-27T00:00:00Z'));
  const name = 'demo';

  beforeAll(async () => {
    kube = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await installCrd(kube);
    ns = await createNamespace(kube, 'pcm-op-rec');
  });
  afterAll(async () => {
    if (kube && ns) await deleteNamespace(kube, ns);
  });

  /** One pass; returns it with the number of API writes it made. */
  async function pass(): Promise<{ outcome: ReconcileOutcome; writes: number; log: string[] }> {
    const before = kube.writes;
    const mark = kube.writeLog.length;
    const outcome = await reconcileCluster({ kube, clock, log: silentLogger, events: new EventRecorder(kube, clock, silentLogger, 'test') }, { namespace: ns, name });
    return { outcome: outcome!, writes: kube.writes - before, log: kube.writeLog.slice(mark) };
  }
  /** Lets kube-full's controllers finish, then runs the pass that absorbs their status into ours. */
  const quiet = async () => {
    if (!full) return;
    await settle(kube, ns, true);
    await pass();
  };
  const setReady = (ordinal: number, ready: boolean) => setGatewayPodReady(kube, ns, name, ordinal, ready, { full, at: clock.now() });
  const podsReady = (ordinals: number[]) => gatewayPodsReady(kube, ns, name, ordinals, { full, at: clock.now() });
  /** What a gateway does when it holds no sessions any more (docs/operator.md, "What a gateway does"). */
  const markDrained = async (ordinal: number) => {
    await gatewayPod(kube, ns, name, ordinal, full);
    await kube.mergePatch({ apiVersion: 'v1', kind: 'Pod', namespace: ns, name: `${name}-gateway-${ordinal}` }, { metadata: { annotations: { 'pcm.dev/drained': 'true' } } });
  };
  const actions = (o: ReconcileOutcome) => Object.fromEntries(o.results.map((r) => [`${r.ref.kind}/${r.ref.name}`, r.action]));
  const changed = (o: ReconcileOutcome) => o.results.filter((r) => r.action !== 'unchanged' && r.action !== 'absent').map((r) => `${r.action} ${r.ref.kind}/${r.ref.name}`).sort();
  const sts = async () => (await kube.get<Sts>({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: ns, name: `${name}-gateway` }))!;
  const doc = async (): Promise<Doc> => {
    const cm = await kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: `${name}-assignments` });
    return JSON.parse((cm!.data as Record<string, string>)['gateways.json']!) as Doc;
  };
  const status = async () => (await kube.get(clusterRefOf(ns, name)))!.status as PCMClusterStatus;
  const resourceVersions = async () => {
    const out: Record<string, string> = {};
    for (const kind of [['v1', 'ConfigMap'], ['v1', 'Service'], ['apps/v1', 'StatefulSet'], ['apps/v1', 'Deployment'], ['policy/v1', 'PodDisruptionBudget']] as const) {
      for (const o of (await kube.list(kind[0], kind[1], ns)).items) out[`${kind[1]}/${o.metadata.name}`] = o.metadata.resourceVersion!;
    }
    out.cluster = (await kube.get(clusterRefOf(ns, name)))!.metadata.resourceVersion!;
    return out;
  };

  it('create: every owned object, owned by the cluster; then a second pass writes nothing', async () => {
    await kube.create(clusterObject(ns, name, { drainSeconds: 30 }));
    const first = await pass();
    expect(Object.values(actions(first.outcome)).every((a) => a === 'created')).toBe(true);
    expect(await ownedObjects(kube, ns)).toEqual(expectedObjects(name));
    const cluster = (await kube.get(clusterRefOf(ns, name)))!;
    const s = await sts();
    expect(s.metadata.ownerReferences).toEqual([{ apiVersion: 'pcm.dev/v1alpha1', kind: 'PCMCluster', name, uid: cluster.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(s.spec.replicas).toBe(3);
    // No gateway pod is Ready yet: discovery must not send terminals anywhere.
    const held = await doc();
    expect(held.generation).toBe(1);
    expect(assignable(held)).toEqual([]);
    expect(held.gateways.map((g) => [g.id, g.ready])).toEqual([0, 1, 2].map((i) => [`demo-gateway-${i}`, false]));
    const st = await status();
    expect(st).toMatchObject({ observedGeneration: 1, replicas: 0, readyReplicas: 0, assignmentsGeneration: 1, selector: 'app.kubernetes.io/component=gateway,app.kubernetes.io/instance=demo,app.kubernetes.io/name=pcm' });
    expect(st.unassignedGateways).toEqual(['demo-gateway-0', 'demo-gateway-1', 'demo-gateway-2']);
    expect(st.conditions!.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=False', 'Progressing=True', 'Degraded=False']);
    const events = await kube.list('v1', 'Event', ns);
    expect(events.items.filter((e) => (e as { reason?: string }).reason === 'Created').length).toBe(expectedObjects(name).length);

    // The pods become Ready: the next pass publishes them.
    await podsReady([0, 1, 2]);
    const ready = await pass();
    expect(changed(ready.outcome)).toContain('patched ConfigMap/demo-assignments');
    const d = await doc();
    expect(d.generation).toBe(2);
    expect(assignable(d)).toEqual(['demo-gateway-0', 'demo-gateway-1', 'demo-gateway-2']);
    expect(d.gateways.every((g) => !('ready' in g))).toBe(true); // the steady-state document carries no ready field
    expect(d.gateways[1]!.websocketUrl).toBe('wss://gw-1.pcm.example.com/v1/connect');
    expect(await status()).toMatchObject({ assignmentsGeneration: 2 });
    expect((await status()).unassignedGateways).toBeUndefined();

    await quiet();
    const rv = await resourceVersions();
    clock.advance(5_000);
    const second = await pass();
    expect(second.writes, second.log.join('\n')).toBe(0);
    expect(Object.values(actions(second.outcome)).every((a) => a === 'unchanged' || a === 'absent')).toBe(true);
    expect(await resourceVersions()).toEqual(rv);
  });

  it('update: a new image patches only the two workloads running it (and the status)', async () => {
    await kube.mergePatch(clusterRefOf(ns, name), { spec: { gateways: { image: 'ghcr.io/pcm/pcm:0.2.0' } } });
    const p = await pass();
    expect(changed(p.outcome)).toEqual(['patched Deployment/demo-discovery', 'patched StatefulSet/demo-gateway']);
    expect(p.writes).toBe(3); // two workloads and one status write
    expect((await sts()).spec.template.spec.containers[0]!.image).toBe('ghcr.io/pcm/pcm:0.2.0');
    expect((await status()).observedGeneration).toBe(2);
    await quiet();
    expect((await pass()).writes).toBe(0);
  });

  it('scale up through the scale subresource: the StatefulSet follows at once; the new gateways are assignable once their pods are Ready', async () => {
    await kube.mergePatch(clusterRefOf(ns, name), { spec: { replicas: 5 } }, 'scale');
    const p = await pass();
    expect(changed(p.outcome)).toEqual(['patched ConfigMap/demo-assignments', 'patched StatefulSet/demo-gateway']);
    expect((await sts()).spec.replicas).toBe(5);
    const held = await doc();
    expect(held.generation).toBe(3); // listed, held back until Ready
    expect(assignable(held)).toEqual([0, 1, 2].map((i) => `demo-gateway-${i}`));
    expect(held.gateways.filter((g) => g.ready === false).map((g) => g.id)).toEqual(['demo-gateway-3', 'demo-gateway-4']);
    expect((await status()).unassignedGateways).toEqual(['demo-gateway-3', 'demo-gateway-4']);
    await podsReady([3, 4]);
    const published = await pass();
    expect(changed(published.outcome)).toContain('patched ConfigMap/demo-assignments');
    const d = await doc();
    expect(d.generation).toBe(4);
    expect(assignable(d)).toEqual([0, 1, 2, 3, 4].map((i) => `demo-gateway-${i}`));
    expect((await status()).assignmentsGeneration).toBe(4);
    expect((await status()).unassignedGateways).toBeUndefined();
    await quiet();
    expect((await pass()).writes).toBe(0);
  });

  it('a published gateway whose pod stops being Ready keeps its terminals for unreadyGraceSeconds, then is held back (ready: false, Warning event) until Ready again', async () => {
    await setReady(1, false);
    const within = await pass();
    expect(assignable(await doc())).toContain('demo-gateway-1');
    expect(within.outcome.requeueAfterMs).toBe(30_000); // the default grace, counted from the transition
    clock.advance(30_000);
    const past = await pass();
    expect(changed(past.outcome)).toContain('patched ConfigMap/demo-assignments');
    const d = await doc();
    expect(d.generation).toBe(5);
    expect(assignable(d)).toEqual([0, 2, 3, 4].map((i) => `demo-gateway-${i}`));
    expect(d.gateways.find((g) => g.id === 'demo-gateway-1')).toMatchObject({ draining: false, ready: false });
    expect((await status()).unassignedGateways).toEqual(['demo-gateway-1']);
    const warned = (await kube.list('v1', 'Event', ns)).items.filter((e) => (e as { reason?: string }).reason === 'GatewayUnready');
    expect(warned.map((e) => [(e as { type?: string }).type, (e as { message?: string }).message])).toEqual([['Warning', expect.stringContaining('demo-gateway-1 not Ready for 30 s')]]);
    await setReady(1, true);
    await pass();
    expect((await doc()).generation).toBe(6);
    expect(assignable(await doc())).toEqual([0, 1, 2, 3, 4].map((i) => `demo-gateway-${i}`));
    expect((await status()).unassignedGateways).toBeUndefined();
  });

  it('scale down: draining is published first; the StatefulSet shrinks after drainSeconds, or earlier for gateways that report empty', async () => {
    await kube.mergePatch(clusterRefOf(ns, name), { spec: { replicas: 2 } }, 'scale');
    const mark = await pass();
    expect(changed(mark.outcome)).toEqual(['patched ConfigMap/demo-assignments']);
    expect((await sts()).spec.replicas).toBe(5);
    const d = await doc();
    expect(d.generation).toBe(7);
    expect(d.gateways.filter((g) => g.draining).map((g) => g.id)).toEqual(['demo-gateway-2', 'demo-gateway-3', 'demo-gateway-4']);
    expect(d.gateways[4]!.drainDeadline).toBe(new Date(clock.now() + 30_000).toISOString());
    expect(mark.outcome.requeueAfterMs).toBe(30_000);
    expect((await status()).drainingGateways).toEqual(['demo-gateway-2', 'demo-gateway-3', 'demo-gateway-4']);
    expect((await status()).conditions!.find((c) => c.type === 'Progressing')!.reason).toBe('Draining');

    clock.advance(10_000);
    await quiet();
    expect((await pass()).writes).toBe(0); // still draining, nothing new to say

    // Gateways 3 and 4 report they are empty (pod annotation): they go before the deadline, 2 still drains.
    for (const ordinal of [3, 4]) await markDrained(ordinal);
    const early = await pass();
    expect(changed(early.outcome)).toEqual(['patched ConfigMap/demo-assignments', 'patched StatefulSet/demo-gateway']);
    expect((await sts()).spec.replicas).toBe(3);
    expect((await doc()).gateways.map((g) => [g.id, g.draining])).toEqual([['demo-gateway-0', false], ['demo-gateway-1', false], ['demo-gateway-2', true]]);
    expect(early.outcome.requeueAfterMs).toBe(20_000);

    clock.advance(20_000);
    const shrink = await pass();
    expect(changed(shrink.outcome)).toEqual(['patched ConfigMap/demo-assignments', 'patched StatefulSet/demo-gateway']);
    expect((await sts()).spec.replicas).toBe(2);
    const after = await doc();
    expect(after.generation).toBe(9);
    expect(after.gateways.map((g) => [g.id, g.draining])).toEqual([['demo-gateway-0', false], ['demo-gateway-1', false]]);
    expect((await status()).drainingGateways).toBeUndefined();
  });

  it('optional objects are deleted when the spec drops them (MQTT off, one gateway, no discovery)', async () => {
    await kube.mergePatch(clusterRefOf(ns, name), { spec: { gateways: { protocols: ['websocket'], replicas: 1, drainSeconds: 0 }, discovery: { replicas: 0 } } });
    const p = await pass();
    expect(changed(p.outcome)).toEqual([
      'deleted Deployment/demo-discovery',
      'deleted PodDisruptionBudget/demo-gateway',
      'deleted Role/demo-discovery',
      'deleted RoleBinding/demo-discovery',
      'deleted Service/demo-discovery',
      'deleted Service/demo-gateway-mqtt',
      'deleted ServiceAccount/demo-discovery',
      'patched ConfigMap/demo-assignments',
      'patched StatefulSet/demo-gateway',
    ]);
    expect(await ownedObjects(kube, ns)).toEqual(expectedObjects(name, { mqtt: false, pdb: false, discovery: false }));
    await quiet();
    expect((await pass()).writes).toBe(0);
    // and back
    await kube.mergePatch(clusterRefOf(ns, name), { spec: { gateways: { protocols: ['websocket', 'mqtt'], replicas: 2 }, discovery: { replicas: 2 } } });
    await pass();
    expect(await ownedObjects(kube, ns)).toEqual(expectedObjects(name));
    // gateway 1 is back once its pod is Ready again (under kube-full it was replaced)
    await podsReady([0, 1]);
    await pass();
    expect(assignable(await doc())).toEqual(['demo-gateway-0', 'demo-gateway-1']);
  });

  it('drift: a hand edit of an owned object is put back', async () => {
    await kube.mergePatch({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: ns, name: `${name}-gateway` }, { spec: { replicas: 9 } });
    const p = await pass();
    expect(changed(p.outcome)).toEqual(['patched StatefulSet/demo-gateway']);
    expect((await sts()).spec.replicas).toBe(2);
  });

  it('pause: nothing is touched, the Progressing condition says so; unpause applies the pending change', async () => {
    await kube.mergePatch(clusterRefOf(ns, name), { metadata: { annotations: { 'pcm.dev/paused': 'true' } }, spec: { gateways: { image: 'ghcr.io/pcm/pcm:0.3.0' } } });
    const p = await pass();
    expect(p.outcome.paused).toBe(true);
    expect(p.log).toEqual([`PATCH /apis/pcm.dev/v1alpha1/namespaces/${ns}/pcmclusters/demo/status`]);
    expect((await sts()).spec.template.spec.containers[0]!.image).toBe('ghcr.io/pcm/pcm:0.2.0');
    const progressing = (await status()).conditions!.find((c) => c.type === 'Progressing')!;
    expect(progressing).toMatchObject({ status: 'False', reason: 'Paused' });
    await quiet();
    expect((await pass()).writes).toBe(0);

    await kube.mergePatch(clusterRefOf(ns, name), { metadata: { annotations: { 'pcm.dev/paused': null } } });
    const resumed = await pass();
    expect(changed(resumed.outcome)).toEqual(['patched Deployment/demo-discovery', 'patched StatefulSet/demo-gateway']);
    expect((await sts()).spec.template.spec.containers[0]!.image).toBe('ghcr.io/pcm/pcm:0.3.0');
  });

  it('a foreign object under an owned name is reported (Degraded), never adopted', async () => {
    await kube.delete({ apiVersion: 'v1', kind: 'Service', namespace: ns, name: `${name}-gateway-mqtt` });
    await kube.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: `${name}-gateway-mqtt`, namespace: ns }, spec: { ports: [{ port: 1 }] } });
    const p = await pass();
    expect(p.outcome.errors.join()).toMatch(/Service\/.*demo-gateway-mqtt exists and is not controlled by this PCMCluster/);
    const warnings = (await kube.list('v1', 'Event', ns)).items.filter((e) => (e as { reason?: string }).reason === 'ApplyFailed');
    expect(warnings.map((e) => (e as { type?: string; message?: string }).type)).toContain('Warning');
    expect((warnings[0] as { message?: string }).message).toMatch(/demo-gateway-mqtt exists and is not controlled/);
    const st = await status();
    expect(st.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'ReconcileFailed' });
    await kube.delete({ apiVersion: 'v1', kind: 'Service', namespace: ns, name: `${name}-gateway-mqtt` });
    const healed = await pass();
    expect(changed(healed.outcome)).toEqual(['created Service/demo-gateway-mqtt']);
    expect((await status()).conditions!.find((c) => c.type === 'Degraded')!.status).toBe('False');
  });

  it('delete: the pass does nothing for a deleted cluster; every child carries the owner reference the garbage collector follows', async () => {
    const uid = (await kube.get(clusterRefOf(ns, name)))!.metadata.uid;
    for (const o of await ownedObjects(kube, ns)) {
      const [kind, n] = o.split('/') as [string, string];
      const apiVersion = { ConfigMap: 'v1', Service: 'v1', ServiceAccount: 'v1', StatefulSet: 'apps/v1', Deployment: 'apps/v1', PodDisruptionBudget: 'policy/v1', Role: 'rbac.authorization.k8s.io/v1', RoleBinding: 'rbac.authorization.k8s.io/v1' }[kind]!;
      const obj = await kube.get({ apiVersion, kind, namespace: ns, name: n });
      expect(obj!.metadata.ownerReferences, o).toEqual([expect.objectContaining({ uid, controller: true, blockOwnerDeletion: true })]);
    }
    await kube.delete(clusterRefOf(ns, name));
    const before = kube.writes;
    expect(await reconcileCluster({ kube, clock, log: silentLogger }, { namespace: ns, name })).toBeUndefined();
    expect(kube.writes).toBe(before);
  });
});
