import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needService } from '../../services/env.js';
import type { KubeClient } from '../../../operator/kube/client.js';
import { clusterObject, clusterRefOf, createNamespace, deleteNamespace, installCrd, kubeClient, until } from './helpers.js';

/**
 * A HorizontalPodAutoscaler drives a PCMCluster through its scale subresource (docs/operator.md,
 * spec.gateways.replicas "also the scale subresource (kubectl scale, HPA)"), with the real
 * HPA controller of kube-full's kube-controller-manager: it reads the scale subresource, and
 * brings spec.gateways.replicas up to minReplicas and down to maxReplicas. The test bed has no
 * metrics API, so the metric-driven part reports ScalingActive=False; the bounds are enforced
 * before any metric is read, which is what this proves works on our CRD.
 */
const kubeEnv = needService('kube-full', ['PCM_TEST_KUBECONFIG', 'PCM_TEST_KUBE_FULL']);

type Cond = { type: string; status: string; reason?: string };

describe.skipIf(!kubeEnv)('HPA on a PCMCluster (real HPA controller, kube-full)', { timeout: 180_000 }, () => {
  let kube: KubeClient;
  let ns: string;
  beforeAll(async () => {
    kube = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await installCrd(kube);
    ns = await createNamespace(kube, 'pcm-hpa');
  });
  afterAll(async () => {
    if (kube && ns) await deleteNamespace(kube, ns);
  });

  const replicas = async () => ((await kube.get(clusterRefOf(ns, 'fleet')))!.spec as { gateways: { replicas: number } }).gateways.replicas;
  // (the operator's client knows only the kinds it manages: plain REST for the HPA)
  const hpaPath = () => `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`;
  const hpaConditions = async () => (await kube.request<{ status?: { conditions?: Cond[] } }>('GET', `${hpaPath()}/fleet`)).status?.conditions ?? [];

  it('raises spec.gateways.replicas to minReplicas and caps it at maxReplicas through the scale subresource', async () => {
    await kube.create(clusterObject(ns, 'fleet', { replicas: 2 }));
    await kube.request('POST', hpaPath(), {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'fleet', namespace: ns },
      spec: {
        scaleTargetRef: { apiVersion: 'pcm.dev/v1alpha1', kind: 'PCMCluster', name: 'fleet' },
        minReplicas: 3,
        maxReplicas: 4,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      },
    });
    // The controller syncs every 15 s: below minReplicas it scales up without reading a metric.
    await until('HPA raised the cluster to minReplicas', async () => (await replicas()) === 3, 90_000, 1_000);
    await until('HPA reports AbleToScale', async () => (await hpaConditions()).some((c) => c.type === 'AbleToScale' && c.status === 'True'), 60_000, 1_000);
    const scale = await kube.request<{ spec: { replicas: number } }>('GET', `/apis/pcm.dev/v1alpha1/namespaces/${ns}/pcmclusters/fleet/scale`);
    expect(scale.spec.replicas).toBe(3);

    // Someone scales past the HPA's bound: the HPA brings it back to maxReplicas.
    await kube.mergePatch(clusterRefOf(ns, 'fleet'), { spec: { replicas: 7 } }, 'scale');
    expect(await replicas()).toBe(7);
    await until('HPA capped the cluster at maxReplicas', async () => (await replicas()) === 4, 90_000, 1_000);
  });
});
