import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needService } from '../../services/env.js';
import { silentLogger } from '../../../common/logger.js';
import { ManualClock } from '../../../common/clock.js';
import { mintTerminalToken } from '../../../protocol/token.js';
import { loadDiscoveryConfig } from '../../../discovery/config.js';
import { startDiscovery, type RunningDiscovery } from '../../../discovery/main.js';
import { reconcileCluster } from '../../../operator/controller/reconcile.js';
import type { KubeClient } from '../../../operator/kube/client.js';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient as Client } from '../../../operator/kube/client.js';
import { KubeGatewaySource } from '../../../discovery/sources/kube.js';
import { clusterObject, clusterRefOf, createNamespace, deleteNamespace, gatewayPodsReady, installCrd, kubeClient, until } from './helpers.js';

/**
 * End to end, issue 6 "Discovery from Kubernetes": the real `pcm discovery` app, configured
 * the way the operator's Deployment configures it (PCM_GATEWAYS_CONFIG_MAP, PCM_KUBE_NAMESPACE),
 * answers terminals from the operator's assignments ConfigMap and follows an operator change
 * on the terminal's next poll; draining gateways are never assigned.
 */
const kubeEnv = needService('kube', ['PCM_TEST_KUBECONFIG']);
const full = kubeEnv?.PCM_TEST_KUBE_FULL === '1';
const SECRET = 'discovery-test-secret-0123456789';

describe.skipIf(!kubeEnv)('discovery served from the operator\'s assignments ConfigMap', { timeout: 120_000 }, () => {
  let kube: KubeClient;
  let ns: string;
  let discovery: RunningDiscovery | undefined;
  let savedKubeconfig: string | undefined;
  const clock = new ManualClock(Date.parse('2026-11-27T00:00:00Z'));
  const pass = () => reconcileCluster({ kube, clock, log: silentLogger }, { namespace: ns, name: 'edge' });

  beforeAll(async () => {
    kube = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await installCrd(kube);
    ns = await createNamespace(kube, 'pcm-op-disc');
    await kube.create(clusterObject(ns, 'edge', { replicas: 2, drainSeconds: 60 }));
    await pass(); // generation 1: no pod Ready yet, nobody assigned
    await gatewayPodsReady(kube, ns, 'edge', [0, 1], { full, at: clock.now() });
    await pass(); // generation 2: both published
    // discovery/sources/kube.ts loads the default kubeconfig ($KUBECONFIG), as in a pod it loads the service account.
    savedKubeconfig = process.env.KUBECONFIG;
    process.env.KUBECONFIG = kubeEnv!.PCM_TEST_KUBECONFIG!;
    const config = loadDiscoveryConfig({
      env: {},
      flags: { discoveryPort: 0, discoveryHost: '127.0.0.1', terminalJwtSecret: SECRET, gatewaysConfigMap: 'edge-assignments', kubeNamespace: ns, logLevel: 'silent' },
    });
    discovery = await startDiscovery(config, silentLogger);
  });
  afterAll(async () => {
    await discovery?.close();
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = savedKubeconfig;
    if (kube && ns) await deleteNamespace(kube, ns);
  });

  async function discover(terminalId: string): Promise<{ gatewayId: string; websocketUrl: string; mqttUrl: string; generation: number }> {
    const token = await mintTerminalToken(SECRET, terminalId);
    const res = await fetch(`${discovery!.url}/v1/discovery/${terminalId}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { gatewayId: string; websocketUrl: string; mqttUrl: string; generation: number };
  }

  it('the discovery ServiceAccount the operator creates can watch its ConfigMap and nothing else', async () => {
    // A real token for the operator-made ServiceAccount (TokenRequest API), used like a pod would.
    const tr = await kube.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/edge-discovery/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 600 },
    });
    const admin = new KubeConfig();
    admin.loadFromFile(kubeEnv!.PCM_TEST_KUBECONFIG!);
    const cluster = admin.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: cluster.server, caData: cluster.caData }],
      users: [{ name: 'discovery', token: tr.status.token }],
      contexts: [{ name: 'x', cluster: 'c', user: 'discovery' }],
      currentContext: 'x',
    });
    const source = new KubeGatewaySource({ namespace: ns, configMapName: 'edge-assignments', key: 'gateways.json', logger: silentLogger, kubeConfig: kc });
    try {
      await source.ready();
      expect(source.current().gateways.length).toBeGreaterThan(0);
    } finally {
      await source.close();
    }
    const asDiscovery = new Client(kc);
    await expect(asDiscovery.list('v1', 'Secret', ns)).rejects.toMatchObject({ statusCode: 403 });
    await expect(asDiscovery.list('v1', 'ConfigMap', ns)).rejects.toMatchObject({ statusCode: 403 }); // only by name
  });

  it('answers from the ConfigMap, follows a scale-up once the new pods are Ready, and never assigns a draining gateway', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `t-${i}`);
    const first = await Promise.all(ids.map(discover));
    expect(new Set(first.map((a) => a.gatewayId))).toEqual(new Set(['edge-gateway-0', 'edge-gateway-1']));
    expect(first[0]!.generation).toBe(2);
    const a = first.find((x) => x.gatewayId === 'edge-gateway-1')!;
    expect([a.websocketUrl, a.mqttUrl]).toEqual(['wss://gw-1.pcm.example.com/v1/connect', 'mqtts://gw-1.pcm.example.com:8883']);

    await kube.mergePatch(clusterRefOf(ns, 'edge'), { spec: { replicas: 4 } }, 'scale');
    await pass(); // generation 3: edge-gateway-2 and -3 listed with ready: false (pods starting)
    await until('discovery sees generation 3', async () => (await discover('t-0')).generation === 3);
    const held = await Promise.all(ids.map(discover));
    expect(new Set(held.map((x) => x.gatewayId))).toEqual(new Set(['edge-gateway-0', 'edge-gateway-1']));
    await gatewayPodsReady(kube, ns, 'edge', [2, 3], { full, at: clock.now() });
    await pass();
    const scaled = await until('discovery sees generation 4', async () => {
      const r = await discover('t-0');
      return r.generation === 4 ? r : undefined;
    });
    expect(scaled.generation).toBe(4);
    const after = await Promise.all(ids.map(discover));
    expect(new Set(after.map((x) => x.gatewayId)).size).toBeGreaterThan(2);

    await kube.mergePatch(clusterRefOf(ns, 'edge'), { spec: { replicas: 1 } }, 'scale');
    await pass(); // marks 1..3 draining, keeps the pods
    await until('discovery sees generation 5', async () => (await discover('t-0')).generation === 5);
    const drained = await Promise.all(ids.map(discover));
    expect(new Set(drained.map((x) => x.gatewayId))).toEqual(new Set(['edge-gateway-0']));
  });
});
