import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { needService } from '../../services/env.js';
import { silentLogger } from '../../../common/logger.js';
import { systemClock } from '../../../common/clock.js';
import { loadOperatorConfig } from '../../../operator/config.js';
import { startOperator, type StartedOperator } from '../../../operator/main.js';
import type { KubeClient } from '../../../operator/kube/client.js';
import type { KubeObject } from '../../../operator/kube/object.js';
import { Informer } from '../../../operator/kube/informers.js';
import type { PCMClusterStatus } from '../../../operator/api/schema.js';
import { KubeGatewaySource } from '../../../discovery/sources/kube.js';
import { assignGateway, isAssignable } from '../../../discovery/core/assignment.js';
import type { GatewaySnapshot } from '../../../discovery/sources/source.js';
import { clusterObject, clusterRefOf, createNamespace, deleteNamespace, installCrd, kubeClient, ownedObjects, until } from './helpers.js';

/**
 * Issue 6 acceptance under kube-full (controller-manager, scheduler, kwok node): scaling
 * 3 -> 5 -> 2 gives Ready pods and an assignments ConfigMap that follows, draining marked
 * before any pod goes; discovery moves about 1/N of 10,000 ids per step; deleting the
 * PCMCluster garbage-collects every child.
 */
const kubeEnv = needService('kube-full', ['PCM_TEST_KUBECONFIG', 'PCM_TEST_KUBE_FULL']);

type Timeline = { t: number; what: string }[];

describe.skipIf(!kubeEnv)('operator under kube-full (real pod lifecycle via kwok)', { timeout: 300_000 }, () => {
  let kube: KubeClient;
  let ns: string;
  let op: StartedOperator | undefined;
  let watchers: Informer[] = [];
  const timeline: Timeline = [];
  const publishedChecks: Promise<void>[] = [];
  const notReady: string[] = [];
  const isReady = (p: KubeObject | undefined) => !!p && ((p.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

  beforeAll(async () => {
    kube = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await installCrd(kube);
    ns = await createNamespace(kube, 'pcm-op-full');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeEnv!.PCM_TEST_KUBECONFIG!);
    // Record, by watch, when the ConfigMap marked whom draining, when the StatefulSet changed size, and when pods went.
    const note = (what: string) => timeline.push({ t: performance.now(), what });
    watchers = [
      new Informer(kube, kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns }, silentLogger, (e, o) => {
        const text = (o.data as Record<string, string> | undefined)?.['gateways.json'];
        if (text) {
          const d = JSON.parse(text) as { gateways: { id: string; draining: boolean; ready?: false }[] };
          note(`cm gateways=${d.gateways.length} draining=${d.gateways.filter((g) => g.draining).map((g) => g.id.split('-').pop()).join(',')}`);
          // Every gateway offered to terminals must have a Ready pod (the operator read it before publishing).
          for (const g of e === 'delete' ? [] : d.gateways.filter((x) => !x.draining && x.ready !== false)) {
            publishedChecks.push(
              kube.get({ apiVersion: 'v1', kind: 'Pod', namespace: ns, name: g.id }).then((p) => {
                if (!isReady(p)) notReady.push(`${g.id} published while its pod was not Ready`);
              }),
            );
          }
        }
      }),
      new Informer(kube, kc, { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: ns }, silentLogger, (_e, o) => note(`sts replicas=${(o.spec as { replicas: number }).replicas}`)),
      new Informer(kube, kc, { apiVersion: 'v1', kind: 'Pod', namespace: ns }, silentLogger, (e, o) => {
        if (e === 'delete' || o.metadata.deletionTimestamp) note(`pod gone ${o.metadata.name}`);
      }),
    ];
    await Promise.all(watchers.map((w) => w.start()));
    const config = loadOperatorConfig({ env: {}, flags: { namespace: ns, identity: 'full-test', healthPort: 0, leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 0.5, resyncSeconds: 5, logLevel: 'silent' } });
    op = startOperator(config, { kubeConfig: kc, logger: silentLogger, clock: systemClock });
  });
  afterAll(async () => {
    await op?.stop();
    await Promise.all(watchers.map((w) => w.stop()));
    if (kube && ns) await deleteNamespace(kube, ns);
  });

  const status = async () => (await kube.get(clusterRefOf(ns, 'fleet')))?.status as PCMClusterStatus | undefined;
  const readyPods = async () =>
    (await kube.list('v1', 'Pod', ns, { labelSelector: 'app.kubernetes.io/component=gateway' })).items
      .filter((p) => !p.metadata.deletionTimestamp && ((p.status as { conditions?: { type: string; status: string }[] })?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => p.metadata.name)
      .sort();
  const settled = async (n: number) => {
    const s = await status();
    const ready = s?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    return ready && s?.readyReplicas === n && s.replicas === n && (await readyPods()).length === n;
  };

  it('3 -> 5 -> 2: Ready pods, assignments follow, draining before removal, ~1/N moves per step; delete garbage-collects', async () => {
    await kube.create(clusterObject(ns, 'fleet', { replicas: 3, drainSeconds: 4 }, { discovery: { replicas: 1 } }));
    await until('3 Ready gateways and Ready=True', () => settled(3), 90_000, 250);
    expect(await readyPods()).toEqual(['fleet-gateway-0', 'fleet-gateway-1', 'fleet-gateway-2']);

    const kc = new KubeConfig();
    kc.loadFromFile(kubeEnv!.PCM_TEST_KUBECONFIG!);
    const source = new KubeGatewaySource({ namespace: ns, configMapName: 'fleet-assignments', key: 'gateways.json', logger: silentLogger, kubeConfig: kc });
    try {
      await source.ready();
      await until('discovery sees 3', () => source.current().gateways.filter(isAssignable).length === 3, 10_000);
      const terminals = Array.from({ length: 10_000 }, (_, i) => `terminal-${i}`);
      const assign = (s: GatewaySnapshot) => terminals.map((t) => assignGateway(t, s.gateways)?.id);
      const moved = (x: (string | undefined)[], y: (string | undefined)[]) => x.filter((g, i) => g !== y[i]).length / terminals.length;
      const a3 = assign(source.current());

      await kube.mergePatch(clusterRefOf(ns, 'fleet'), { spec: { replicas: 5 } }, 'scale');
      await until('5 Ready gateways', () => settled(5), 90_000, 250);
      await until('discovery sees 5', () => source.current().gateways.filter(isAssignable).length === 5, 10_000);
      const a5 = assign(source.current());
      expect(Math.abs(moved(a3, a5) - 2 / 5)).toBeLessThan(0.03);

      const mark = performance.now();
      await kube.mergePatch(clusterRefOf(ns, 'fleet'), { spec: { replicas: 2 } }, 'scale');
      const draining = await until('draining visible to discovery', () => (source.current().gateways.some((g) => g.draining) ? source.current() : undefined), 10_000, 20);
      const ad = assign(draining);
      expect(Math.abs(moved(a5, ad) - 3 / 5)).toBeLessThan(0.03);
      expect(new Set(ad)).toEqual(new Set(['fleet-gateway-0', 'fleet-gateway-1']));
      await until('2 Ready gateways', () => settled(2), 90_000, 250);
      await until('discovery sees 2', () => source.current().gateways.length === 2, 10_000);
      expect(moved(ad, assign(source.current()))).toBe(0);
      expect(await readyPods()).toEqual(['fleet-gateway-0', 'fleet-gateway-1']);

      // The order, as watched: draining published, then (after drainSeconds) the StatefulSet shrinks, then pods go.
      const after = timeline.filter((e) => e.t >= mark);
      const iDrain = after.findIndex((e) => e.what === 'cm gateways=5 draining=2,3,4');
      const iShrink = after.findIndex((e) => e.what === 'sts replicas=2');
      const iPod = after.findIndex((e) => e.what.startsWith('pod gone'));
      expect(iDrain, JSON.stringify(after)).toBeGreaterThanOrEqual(0);
      expect(iShrink).toBeGreaterThan(iDrain);
      expect(iPod).toBeGreaterThan(iDrain);
      expect(after[iShrink]!.t - after[iDrain]!.t).toBeGreaterThanOrEqual(3_500); // drainSeconds 4, minus watch jitter
      // Readiness gate: no publication ever offered a gateway whose pod was still starting.
      await Promise.all(publishedChecks);
      expect(publishedChecks.length).toBeGreaterThan(0);
      expect(notReady).toEqual([]);
    } finally {
      await source.close();
    }

    await kube.delete(clusterRefOf(ns, 'fleet'));
    await until('children garbage-collected', async () => (await ownedObjects(kube, ns)).length === 0, 60_000, 250);
  }, 300_000);
});
