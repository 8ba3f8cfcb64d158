import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { needService } from '../../services/env.js';
import { silentLogger } from '../../../common/logger.js';
import { systemClock } from '../../../common/clock.js';
import { loadOperatorConfig } from '../../../operator/config.js';
import { startOperator, type StartedOperator } from '../../../operator/main.js';
import type { KubeClient } from '../../../operator/kube/client.js';
import { reconcileCluster } from '../../../operator/controller/reconcile.js';
import { KubeGatewaySource } from '../../../discovery/sources/kube.js';
import { LeaderElector } from '../../../operator/kube/leader.js';
import { ManualClock } from '../../../common/clock.js';
import { assignGateway, isAssignable } from '../../../discovery/core/assignment.js';
import type { GatewaySnapshot } from '../../../discovery/sources/source.js';
import type { PCMClusterStatus } from '../../../operator/api/schema.js';
import { clusterObject, clusterRefOf, createNamespace, deleteNamespace, expectedObjects, installCrd, kubeClient, ownedObjects, settle, until, gatewayPodsReady } from './helpers.js';

/**
 * Issue 6 acceptance, runtime half, on the real kube-apiserver: informers + work queue +
 * Lease leader election in two operator replicas (never both reconciling), hand-over on
 * stop, and discovery's kube source following the assignments ConfigMap by watch, moving
 * about 1/N of 10,000 terminal ids per step.
 */
const kubeEnv = needService('kube', ['PCM_TEST_KUBECONFIG']);
const full = kubeEnv?.PCM_TEST_KUBE_FULL === '1';

type Sts = { spec: { replicas: number } };

describe.skipIf(!kubeEnv)('operator runtime against a real kube-apiserver', { timeout: 180_000 }, () => {
  let kube: KubeClient;
  let ns: string;
  const running: StartedOperator[] = [];
  const intervals: { who: string; start: number; end?: number }[] = [];

  function start(identity: string): StartedOperator {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeEnv!.PCM_TEST_KUBECONFIG!);
    const config = loadOperatorConfig({
      env: {},
      flags: { namespace: ns, identity, healthPort: 0, leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.2, resyncSeconds: 5, logLevel: 'silent' },
    });
    const op = startOperator(config, {
      kubeConfig: kc,
      logger: silentLogger,
      clock: systemClock,
      onPassStart: () => void intervals.push({ who: identity, start: performance.now() }),
      onPass: () => {
        const open = intervals.filter((i) => i.who === identity && i.end === undefined).pop();
        if (open) open.end = performance.now();
      },
    });
    running.push(op);
    return op;
  }

  beforeAll(async () => {
    kube = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await installCrd(kube);
    ns = await createNamespace(kube, 'pcm-op-run');
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop().catch(() => undefined)));
    if (kube && ns) await deleteNamespace(kube, ns);
  });

  const sts = async (name: string) => kube.get<Sts & import('../../../operator/kube/object.js').KubeObject>({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: ns, name: `${name}-gateway` });
  const status = async (name: string) => (await kube.get(clusterRefOf(ns, name)))?.status as PCMClusterStatus | undefined;

  it('two replicas: one leads and reconciles, the other only watches the Lease; stopping the leader hands over', async () => {
    const a = start('replica-a');
    const b = start('replica-b');
    const leader = await until('a leader', () => (a.operator.isLeader ? a : b.operator.isLeader ? b : undefined), 10_000, 50);
    const follower = leader === a ? b : a;
    // Sample for a while: never two leaders.
    for (let i = 0; i < 20; i++) {
      expect(a.operator.isLeader && b.operator.isLeader).toBe(false);
      await new Promise((r) => setTimeout(r, 50));
    }
    await kube.create(clusterObject(ns, 'alpha'));
    await until('alpha reconciled', async () => (await status('alpha'))?.observedGeneration === 1, 20_000);
    expect(await ownedObjects(kube, ns)).toEqual(expectedObjects('alpha'));
    // The follower wrote nothing but (at most) its own Lease attempts.
    expect(follower.kube.writeLog.filter((w) => !/\/leases(\/|$)/.test(w))).toEqual([]);
    expect(leader.kube.writeLog.some((w) => w.includes('/statefulsets/'))).toBe(true);

    const lease = await kube.get<{ spec: { holderIdentity: string } } & import('../../../operator/kube/object.js').KubeObject>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: 'pcm-operator' });
    expect(lease!.spec.holderIdentity).toBe(leader === a ? 'replica-a' : 'replica-b');

    await leader.stop();
    await until('the follower takes over', () => follower.operator.isLeader, 10_000, 50);
    await kube.mergePatch(clusterRefOf(ns, 'alpha'), { spec: { replicas: 4 } }, 'scale');
    await until('scale applied by the new leader', async () => (await sts('alpha'))?.spec.replicas === 4, 20_000);
    expect(follower.kube.writeLog.some((w) => w.includes('/statefulsets/'))).toBe(true);

    const followerId = follower === a ? 'replica-a' : 'replica-b';
    await until('the new leader finished a pass', () => intervals.some((i) => i.who === followerId && i.end !== undefined), 10_000, 20);
    // No two passes overlapped in time across the replicas.
    const done = intervals.filter((i) => i.end !== undefined).sort((x, y) => x.start - y.start);
    for (let i = 1; i < done.length; i++) {
      if (done[i]!.who !== done[i - 1]!.who) expect(done[i]!.start).toBeGreaterThanOrEqual(done[i - 1]!.end!);
    }
    expect(new Set(done.map((d) => d.who)).size).toBe(2);
  });

  it('Lease races: of three candidates for a free or expired Lease exactly one wins, every round', async () => {
    const clocks = [0, 1, 2].map(() => new ManualClock(1_000_000));
    const candidates = clocks.map(
      (clock, i) => new LeaderElector(kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!), { namespace: ns, name: 'race', identity: `c${i}`, leaseDurationMs: 5_000, renewDeadlineMs: 3_000, clock, log: silentLogger }),
    );
    for (let round = 0; round < 6; round++) {
      const wins = await Promise.all(candidates.map((c) => c.tryAcquireOrRenew()));
      expect(wins.filter(Boolean).length, `round ${round}: ${wins}`).toBe(1);
      // While the winner's lease is fresh nobody else gets it.
      const winner = wins.indexOf(true);
      const again = await Promise.all(candidates.map((c, i) => (i === winner ? Promise.resolve(false) : c.tryAcquireOrRenew())));
      expect(again.some(Boolean)).toBe(false);
      for (const c of clocks) c.advance(6_000); // the lease expires for everyone
    }
  });

  it('a leader whose Lease is taken over stops reconciling at once (done() resolves, no more passes)', async () => {
    await Promise.all(running.map((r) => r.stop())); // release the Lease held since the first test
    const op = start('usurped');
    await until('leader', () => op.operator.isLeader, 15_000, 50);
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: 'pcm-operator' } as const;
    const lease = (await kube.get(ref))!;
    const now = new Date().toISOString().replace('Z', '000Z');
    await kube.replace({ ...lease, spec: { ...(lease.spec as object), holderIdentity: 'intruder', renewTime: now, acquireTime: now, leaseDurationSeconds: 60 } });
    const t0 = Date.now();
    await op.operator.done();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(op.operator.isLeader).toBe(false);
    const passes = op.operator.passes;
    await kube.mergePatch(clusterRefOf(ns, 'alpha'), { spec: { replicas: 3 } }, 'scale');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(op.operator.passes).toBe(passes);
    expect((await sts('alpha'))!.spec.replicas).toBe(4);
    await kube.delete(ref); // free it for the next test
  });

  it('discovery follows the assignments ConfigMap by watch; each step moves about 1/N of 10,000 terminals', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeEnv!.PCM_TEST_KUBECONFIG!);
    const runner = start('discovery-runner'); // earlier tests stopped their replicas
    await until('leader', () => runner.operator.isLeader, 15_000, 50);
    await kube.create(clusterObject(ns, 'beta', { replicas: 3, drainSeconds: 2 }));
    const source = new KubeGatewaySource({ namespace: ns, configMapName: 'beta-assignments', key: 'gateways.json', logger: silentLogger, kubeConfig: kc });
    const seen: GatewaySnapshot[] = [];
    source.subscribe((s) => seen.push(s));
    try {
      // Gateways are published once their pods are Ready (kwok under kube-full; stand-ins on a bare API server).
      await gatewayPodsReady(kube, ns, 'beta', [0, 1, 2], { full });
      const live = () => source.current().gateways.filter(isAssignable).length;
      await until('3 gateways', () => live() === 3, 20_000);
      const terminals = Array.from({ length: 10_000 }, (_, i) => `terminal-${i}`);
      const assign = (s: GatewaySnapshot) => terminals.map((t) => assignGateway(t, s.gateways)?.id);
      const moved = (x: (string | undefined)[], y: (string | undefined)[]) => x.filter((g, i) => g !== y[i]).length;

      const s3 = source.current();
      const a3 = assign(s3);
      await kube.mergePatch(clusterRefOf(ns, 'beta'), { spec: { replicas: 5 } }, 'scale');
      await gatewayPodsReady(kube, ns, 'beta', [3, 4], { full });
      await until('5 gateways', () => live() === 5, 20_000);
      const s5 = source.current();
      expect(s5.generation).toBeGreaterThan(s3.generation);
      const a5 = assign(s5);
      // 3 -> 5: the two new gateways take about 2/5; every move goes TO a new gateway.
      expect(Math.abs(moved(a3, a5) / 10_000 - 2 / 5)).toBeLessThan(0.03);
      a3.forEach((g, i) => a5[i] !== g && expect(['beta-gateway-3', 'beta-gateway-4']).toContain(a5[i]));

      await kube.mergePatch(clusterRefOf(ns, 'beta'), { spec: { replicas: 2 } }, 'scale');
      const draining = await until('draining published', () => (source.current().gateways.filter((g) => g.draining).length === 3 ? source.current() : undefined), 20_000);
      const stsWhileDraining = (await sts('beta'))!.spec.replicas;
      expect(stsWhileDraining).toBe(5); // marked draining BEFORE any pod is removed
      const ad = assign(draining);
      // 5 -> 2: the three draining gateways lose their ~3/5, only to the two that stay.
      expect(Math.abs(moved(a5, ad) / 10_000 - 3 / 5)).toBeLessThan(0.03);
      a5.forEach((g, i) => ad[i] !== g && expect(['beta-gateway-2', 'beta-gateway-3', 'beta-gateway-4']).toContain(g));
      ad.forEach((g) => expect(['beta-gateway-0', 'beta-gateway-1']).toContain(g));

      await until('drained gateways removed', () => source.current().gateways.length === 2, 20_000);
      // The same pass shrinks the StatefulSet right after publishing the ConfigMap.
      await until('StatefulSet shrunk', async () => (await sts('beta'))!.spec.replicas === 2, 10_000);
      // Removing already-draining gateways moves nobody.
      expect(moved(ad, assign(source.current()))).toBe(0);
      // Assignable gateways as published: growing while pods turn Ready (never one before its pod), 5, then 2.
      const sizes = seen.map((s) => s.gateways.filter(isAssignable).length);
      const at5 = sizes.indexOf(5);
      expect(sizes.slice(0, at5)).toEqual([...sizes.slice(0, at5)].sort((x, y) => x - y));
      expect(sizes.slice(at5)).toEqual([5, 2, 2]); // 5; draining marked (2 assignable); draining ones removed
      expect(seen.at(-1)!.gateways.length).toBe(2);
    } finally {
      await source.close();
    }
  });

  it('an operator killed mid-pass (after any number of writes) converges on restart, without duplicates', async () => {
    // Stop the runtime replicas: this test drives passes by hand.
    await Promise.all(running.map((r) => r.stop()));
    const kc = new KubeConfig();
    kc.loadFromFile(kubeEnv!.PCM_TEST_KUBECONFIG!);
    for (const killAfter of [1, 2, 5, 8, 11]) {
      const name = `kill-${killAfter}`;
      await kube.create(clusterObject(ns, name));
      const dying = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
      const send = dying.request.bind(dying);
      // The process "dies" right after its Nth write reached the API server.
      dying.request = async <T,>(method: string, path: string, body?: unknown, ct?: string) => {
        const r = await send<T>(method, path, body, ct);
        if (method !== 'GET' && dying.writes >= killAfter) throw new Error('SIGKILL');
        return r;
      };
      await reconcileCluster({ kube: dying, clock: systemClock, log: silentLogger }, { namespace: ns, name }).catch(() => undefined);
      const fresh = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
      await reconcileCluster({ kube: fresh, clock: systemClock, log: silentLogger }, { namespace: ns, name });
      if (full) {
        // kube-full: let the workload controllers finish and absorb their status first.
        await settle(kube, ns, true);
        await reconcileCluster({ kube: fresh, clock: systemClock, log: silentLogger }, { namespace: ns, name });
      }
      const w = fresh.writes;
      await reconcileCluster({ kube: fresh, clock: systemClock, log: silentLogger }, { namespace: ns, name });
      expect(fresh.writes - w, `second pass after a kill at write ${killAfter}`).toBe(0);
      const cm = await kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: `${name}-assignments` });
      const published = JSON.parse((cm!.data as Record<string, string>)['gateways.json']!) as { generation: number; gateways: unknown[] };
      // Bare API server: no pod ever turns Ready, so one publication (empty). kube-full: one more per
      // readiness change seen (at most one per pod), never a second one for the same content.
      if (full) expect(published.generation, 'assignments generation').toBeLessThanOrEqual(1 + published.gateways.length);
      else expect(published.generation, 'assignments generation not bumped twice').toBe(1);
      expect((await status(name))!.observedGeneration).toBe(1);
    }
    const all = await ownedObjects(kube, ns);
    for (const k of [1, 2, 5, 8, 11]) expect(all.filter((o) => o.split('/')[1]!.startsWith(`kill-${k}-`)).sort()).toEqual(expectedObjects(`kill-${k}`));
  });
});
