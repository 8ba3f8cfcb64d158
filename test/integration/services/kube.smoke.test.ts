import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { needService } from '../../services/env.js';

// Smoke test of the `kube` test bed (issue 3, DESIGN.md section 6): a real etcd + kube-apiserver
// built from the Go module proxy. Start it with `npm run services -- up kube`
// (or `bash test/services/kube.sh up`).
const kube = needService('kube', ['PCM_TEST_KUBECONFIG']);

const GROUP = 'smoke.pcm.test';
const suffix = randomBytes(4).toString('hex');
const PLURAL = `widgets${suffix}`;
const CRD_NAME = `${PLURAL}.${GROUP}`;

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

describe.skipIf(!kube)('kube test bed (etcd + kube-apiserver)', () => {
  // describe.skipIf still runs this body, so the clients are made only once the service is known.
  let kc: k8s.KubeConfig;
  let ext: k8s.ApiextensionsV1Api;
  let custom: k8s.CustomObjectsApi;
  let version: k8s.VersionApi;
  beforeAll(() => {
    kc = new k8s.KubeConfig();
    kc.loadFromFile(kube!.PCM_TEST_KUBECONFIG!);
    ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    version = kc.makeApiClient(k8s.VersionApi);
  });

  afterAll(async () => {
    await ext.deleteCustomResourceDefinition({ name: CRD_NAME }).catch(() => undefined);
  });

  it('serves the pinned Kubernetes version over TLS on 127.0.0.1 with the token', async () => {
    expect(kc.getCurrentCluster()?.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const info = await version.getCode();
    expect(info.major).toBe('1');
    expect(info.gitVersion).toMatch(/^v1\.3\d\.\d+$/);
    if (kube!.PCM_TEST_KUBE_VERSION) expect(info.gitVersion).toBe(kube!.PCM_TEST_KUBE_VERSION);
  });

  it('creates a CRD, waits for Established, then creates and reads a custom resource', async () => {
    await ext.createCustomResourceDefinition({
      body: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: CRD_NAME },
        spec: {
          group: GROUP,
          scope: 'Namespaced',
          names: { plural: PLURAL, singular: `widget${suffix}`, kind: `Widget${suffix}` },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: {
                      type: 'object',
                      required: ['size'],
                      properties: { size: { type: 'integer', minimum: 1 } },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    });
    await waitFor('CRD Established', 30_000, async () => {
      const crd = await ext.readCustomResourceDefinition({ name: CRD_NAME });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? crd : undefined;
    });

    const name = `w-${suffix}`;
    const body = { apiVersion: `${GROUP}/v1`, kind: `Widget${suffix}`, metadata: { name }, spec: { size: 3 } };
    // Right after Established the discovery cache may lag for a moment: retry the create briefly.
    await waitFor('custom resource created', 15_000, async () =>
      custom.createNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: 'default', plural: PLURAL, body }),
    );
    const got = (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: 'v1',
      namespace: 'default',
      plural: PLURAL,
      name,
    })) as { metadata: { uid?: string }; spec: { size: number } };
    expect(got.spec.size).toBe(3);
    expect(got.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);

    // The schema is enforced by the real apiserver: size 0 violates `minimum: 1`.
    await expect(
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: 'v1',
        namespace: 'default',
        plural: PLURAL,
        body: { ...body, metadata: { name: `${name}-bad` }, spec: { size: 0 } },
      }),
    ).rejects.toMatchObject({ code: 422 });
  });
});
