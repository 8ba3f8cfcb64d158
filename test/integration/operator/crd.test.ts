import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needService } from '../../services/env.js';
import type { KubeClient } from '../../../operator/kube/client.js';
import { KubeApiError } from '../../../operator/kube/client.js';
import { clusterObject, clusterRefOf, createNamespace, deleteNamespace, installCrd, kubeClient } from './helpers.js';

/**
 * Issue 6 acceptance: an invalid PCMCluster is rejected BY THE API SERVER with a message naming
 * the field; defaults and the scale subresource come from the generated CRD.
 */
const kubeEnv = needService('kube', ['PCM_TEST_KUBECONFIG']);

describe.skipIf(!kubeEnv)('PCMCluster CRD on a real kube-apiserver', { timeout: 60_000 }, () => {
  let kube: KubeClient;
  let ns: string;
  beforeAll(async () => {
    kube = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await installCrd(kube);
    ns = await createNamespace(kube, 'pcm-op-crd');
  });
  afterAll(async () => {
    if (kube && ns) await deleteNamespace(kube, ns);
  });

  const rejected = async (obj: ReturnType<typeof clusterObject>): Promise<KubeApiError> => {
    try {
      await kube.create(obj);
    } catch (err) {
      return err as KubeApiError;
    }
    throw new Error('the API server accepted an invalid PCMCluster');
  };

  it('rejects negative replicas naming spec.gateways.replicas', async () => {
    const err = await rejected(clusterObject(ns, 'neg', { replicas: -1 }));
    expect(err.statusCode).toBe(422);
    expect(err.message).toMatch(/spec\.gateways\.replicas: Invalid value: -1: spec\.gateways\.replicas in body should be greater than or equal to 0/);
  });

  it('rejects an unknown protocol naming spec.gateways.protocols', async () => {
    const err = await rejected(clusterObject(ns, 'proto', { protocols: ['websocket', 'http'] }));
    expect(err.statusCode).toBe(422);
    expect(err.message).toMatch(/spec\.gateways\.protocols\[1\]: Unsupported value: "http": supported values: "websocket", "mqtt"/);
  });

  it('rejects a host template without {ordinal} naming spec.gateways.public.hostTemplate', async () => {
    const err = await rejected(clusterObject(ns, 'host', { public: { hostTemplate: 'gw.pcm.example.com' } }));
    expect(err.statusCode).toBe(422);
    expect(err.message).toMatch(/spec\.gateways\.public\.hostTemplate: Invalid value: "gw\.pcm\.example\.com"/);
  });

  it('rejects a missing image (required) and a bad Kafka broker', async () => {
    const noImage = clusterObject(ns, 'noimg');
    delete ((noImage.spec as { gateways: Record<string, unknown> }).gateways).image;
    expect((await rejected(noImage)).message).toMatch(/spec\.gateways\.image: Required value/);
    expect((await rejected(clusterObject(ns, 'kafka', {}, { kafka: { brokers: ['no-port'] } }))).message).toMatch(/spec\.kafka\.brokers\[0\]/);
  });

  it('rejects an unknown Couchbase durability and a negative queue limit, naming the field; fills the Couchbase defaults', async () => {
    const cb = { connectionString: 'couchbase://cb', bucket: 'pcm' };
    expect((await rejected(clusterObject(ns, 'dur', {}, { couchbase: { ...cb, durability: 'always' } }))).message).toMatch(/spec\.couchbase\.durability/);
    expect((await rejected(clusterObject(ns, 'qlimit', {}, { limits: { maxPendingPerTerminal: -1 } }))).message).toMatch(/spec\.limits\.maxPendingPerTerminal/);
    await kube.create(clusterObject(ns, 'cbdefaults', {}, { couchbase: cb }));
    const stored = await kube.get(clusterRefOf(ns, 'cbdefaults'));
    expect((stored!.spec as { couchbase: unknown }).couchbase).toEqual({ ...cb, scope: '_default', collection: '_default', durability: 'none' });
  });

  it('fills defaults server-side and serves the scale subresource', async () => {
    await kube.create(clusterObject(ns, 'ok'));
    const stored = await kube.get(clusterRefOf(ns, 'ok'));
    const spec = stored!.spec as { gateways: Record<string, unknown>; discovery: Record<string, unknown>; limits: Record<string, unknown> };
    expect(spec.gateways).toMatchObject({ replicas: 3, drainSeconds: 120, protocols: ['websocket', 'mqtt'], ports: { http: 8080, mqtt: 1883 } });
    expect(spec.gateways.public).toEqual({ hostTemplate: 'gw-{ordinal}.pcm.example.com', tls: true, websocketPort: 443, mqttPort: 8883 });
    expect(spec.discovery).toEqual({ replicas: 2, pollSeconds: 300, port: 8080 });
    expect(spec.limits).toEqual({ maxTtlSeconds: 2419200, maxPayloadBytes: 65536, maxPendingPerTerminal: 10000 });

    const scale = await kube.request<{ kind: string; spec: { replicas: number } }>('GET', `/apis/pcm.dev/v1alpha1/namespaces/${ns}/pcmclusters/ok/scale`);
    expect(scale.kind).toBe('Scale');
    expect(scale.spec.replicas).toBe(3);
    await kube.mergePatch(clusterRefOf(ns, 'ok'), { spec: { replicas: 5 } }, 'scale');
    expect(((await kube.get(clusterRefOf(ns, 'ok')))!.spec as { gateways: { replicas: number } }).gateways.replicas).toBe(5);
  });
});
