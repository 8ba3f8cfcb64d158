import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { needService } from '../../services/env.js';

// Smoke test of the `kube-full` test bed (issue 3, DESIGN.md section 6): kube-controller-manager,
// kube-scheduler and kwok on top of etcd + kube-apiserver, with one fake node. Pods become
// Running/Ready without any container running. Start it with `npm run services -- up kube-full`
// (or `bash test/services/kube.sh up full`).
const kube = needService('kube-full', ['PCM_TEST_KUBECONFIG', 'PCM_TEST_KUBE_FULL']);

const READY_WAIT_MS = 90_000;

describe.skipIf(!kube)('kube-full test bed (controllers, scheduler, kwok)', () => {
  // describe.skipIf still runs this body, so the clients are made only once the service is known.
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  beforeAll(() => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kube!.PCM_TEST_KUBECONFIG!);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
  });
  const namespace = `smoke-${randomBytes(4).toString('hex')}`;

  afterAll(async () => {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('a StatefulSet of 2 replicas gets 2 Ready pods on the kwok node', { timeout: READY_WAIT_MS + 30_000 }, async () => {
    const nodes = await core.listNode();
    const fake = nodes.items.filter((n) => n.metadata?.annotations?.['kwok.x-k8s.io/node'] === 'fake');
    expect(fake.length).toBeGreaterThanOrEqual(1);
    expect(fake[0]!.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');

    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const labels = { app: 'smoke' };
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'smoke' },
        spec: {
          serviceName: 'smoke',
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'app', image: 'example.invalid/never-pulled:1' }] },
          },
        },
      },
    });

    const deadline = Date.now() + READY_WAIT_MS;
    let ready = 0;
    let seen = '';
    while (Date.now() < deadline) {
      const sts = await apps.readNamespacedStatefulSet({ name: 'smoke', namespace });
      ready = sts.status?.readyReplicas ?? 0;
      seen = `readyReplicas=${ready} replicas=${sts.status?.replicas ?? 0}`;
      if (ready === 2) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(ready, `StatefulSet not Ready within ${READY_WAIT_MS} ms (${seen})`).toBe(2);

    const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=smoke' });
    expect(pods.items.map((p) => p.metadata?.name).sort()).toEqual(['smoke-0', 'smoke-1']);
    for (const pod of pods.items) {
      expect(pod.status?.phase).toBe('Running');
      expect(pod.spec?.nodeName).toBe(fake[0]!.metadata?.name);
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
  });
});
