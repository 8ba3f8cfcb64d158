/**
 * Issue 7: `helm template` output is accepted by the API server, for the default values and
 * for values-all.yaml (every option set). Each rendered object is POSTed with `?dryRun=All`
 * and strict field validation, so admission, schema validation (the sample PCMCluster against
 * the real CRD), RBAC object checks and unknown-field detection all run, and nothing persists.
 * The CRD goes first for real (server-side apply of the chart's file) because the sample
 * PCMCluster can only be validated by a served CRD; it is the same file every install applies.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { needService } from '../../services/env.js';
import { Helm, chartDir, valuesAllFile } from './helm.js';
import { ApiError, Kube, type KubeObject, randomSuffix, waitFor } from './kube.js';

const helmEnv = needService('helm', ['PCM_TEST_HELM']);
const kubeEnv = needService('kube', ['PCM_TEST_KUBECONFIG']);
const promEnv = needService('prometheus', ['PCM_TEST_PROMETHEUS_OPERATOR_CRDS']);

/** Applies a CRD file (server-side apply), waits until it is Established and refreshes discovery. */
async function applyCrd(kube: Kube, file: string, apiVersion: string, kind: string): Promise<KubeObject> {
  const crd = parseYaml(readFileSync(file, 'utf8')) as KubeObject;
  await kube.request('PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=pcm-chart-test&force=true`, crd, 'application/apply-patch+yaml');
  await waitFor(`CRD ${crd.metadata.name} Established`, async () => {
    const c = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>('apiextensions.k8s.io/v1', 'CustomResourceDefinition', crd.metadata.name);
    return c?.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ? true : undefined;
  });
  await kube.resource(apiVersion, kind, true);
  return crd;
}

/** Applies the chart's CRD (server-side apply) and waits until it is Established. */
export async function ensureCrd(kube: Kube): Promise<KubeObject> {
  return applyCrd(kube, path.join(chartDir, 'crds/pcmclusters.yaml'), 'pcm.dev/v1alpha1', 'PCMCluster');
}

/**
 * The Prometheus Operator's own CRDs for the objects the chart can ship (PrometheusRule,
 * PodMonitor), from the test bed (`npm run services -- up prometheus`), so the dry run
 * validates them against the real schemas, as a cluster running kube-prometheus-stack would.
 */
async function ensureMonitoringCrds(kube: Kube, dir: string): Promise<void> {
  await applyCrd(kube, path.join(dir, 'monitoring.coreos.com_prometheusrules.yaml'), 'monitoring.coreos.com/v1', 'PrometheusRule');
  await applyCrd(kube, path.join(dir, 'monitoring.coreos.com_podmonitors.yaml'), 'monitoring.coreos.com/v1', 'PodMonitor');
}

describe.skipIf(!helmEnv || !kubeEnv || !promEnv)('helm template output accepted by the API server (server-side dry run)', () => {
  const helm = new Helm(helmEnv?.PCM_TEST_HELM ?? 'helm');
  let kube: Kube;
  const suffix = randomSuffix();
  const ns = `pcm-helm-dry-${suffix}`;
  const watchNs = `pcm-helm-dryw-${suffix}`;
  // values-all.yaml ships the Grafana dashboard, the PrometheusRule and the PodMonitor to their
  // own namespace; give them a real one.
  const dashNs = `pcm-helm-dryd-${suffix}`;

  beforeAll(async () => {
    kube = new Kube(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await kube.createNamespace(ns);
    await kube.createNamespace(watchNs);
    await kube.createNamespace(dashNs);
    await ensureCrd(kube);
    await ensureMonitoringCrds(kube, promEnv!.PCM_TEST_PROMETHEUS_OPERATOR_CRDS!);
  });
  afterAll(async () => {
    await kube?.deleteNamespace(ns).catch(() => undefined);
    await kube?.deleteNamespace(watchNs).catch(() => undefined);
    await kube?.deleteNamespace(dashNs).catch(() => undefined);
  });

  async function dryRunAll(objs: KubeObject[]): Promise<{ accepted: KubeObject[]; refused: string[] }> {
    const accepted: KubeObject[] = [];
    const refused: string[] = [];
    for (const o of objs) {
      try {
        accepted.push(await kube.create(o, { dryRun: true, namespace: ns }));
      } catch (err) {
        refused.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
      }
    }
    return { accepted, refused };
  }

  it('default values: every object accepted, nothing persisted', async () => {
    const objs = helm.template([], { release: 'pcm', namespace: ns });
    expect(objs.length).toBe(6);
    const { accepted, refused } = await dryRunAll(objs);
    expect(refused).toEqual([]);
    expect(accepted.map((o) => o.kind).sort()).toEqual(objs.map((o) => o.kind).sort());
    // The server defaulted and returned the Deployment: our security settings survived admission.
    const d = accepted.find((o) => o.kind === 'Deployment')!;
    const c = ((d.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec.containers[0]!);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    // dryRun=All persisted nothing.
    expect(await kube.get('apps/v1', 'Deployment', d.metadata.name, ns)).toBeUndefined();
  });

  it('values-all.yaml (every option set, sample PCMCluster validated by the real CRD): every object accepted', async () => {
    const objs = helm.template(
      ['-f', valuesAllFile, '--set', `operator.watchNamespace=${watchNs}`, '--set', `grafanaDashboard.namespace=${dashNs}`, '--set', `prometheusRule.namespace=${dashNs}`, '--set', `podMonitor.namespace=${dashNs}`],
      { release: 'pcm', namespace: ns },
    );
    expect(objs.map((o) => o.kind)).toEqual(expect.arrayContaining(['PCMCluster', 'PrometheusRule', 'PodMonitor']));
    const { accepted, refused } = await dryRunAll(objs);
    expect(refused).toEqual([]);
    const sample = accepted.find((o) => o.kind === 'PCMCluster')!;
    // The API server applied the CRD's defaults to what the chart left out.
    expect(sample.spec).toMatchObject({ gateways: { replicas: 2 }, discovery: { replicas: 1, port: 8081 } });
    expect(await kube.get('pcm.dev/v1alpha1', 'PCMCluster', 'fleet', ns)).toBeUndefined();
  });

  it('the CRD in crds/ is accepted as an update of itself (dry run) and --include-crds renders that file', async () => {
    const objs = helm.template([], { includeCrds: true, namespace: ns });
    const crd = objs.find((o) => o.kind === 'CustomResourceDefinition')!;
    expect(crd.metadata.name).toBe('pcmclusters.pcm.dev');
    await kube.request('PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?dryRun=All&fieldManager=pcm-chart-test&force=true`, crd, 'application/apply-patch+yaml');
  });

  it('the dry run is a real check: an object the schema cannot catch is refused by the server', async () => {
    // A sample spec the chart's values schema lets through only because it is sent raw here.
    const objs = helm.template(['--set', 'sampleCluster.enabled=true'], { namespace: ns });
    const sample = objs.find((o) => o.kind === 'PCMCluster')!;
    (sample.spec as { gateways: { replicas: number } }).gateways.replicas = -1;
    const err = await kube.create(sample, { dryRun: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect((err as ApiError).message).toMatch(/spec\.gateways\.replicas/);
  });
});
