/**
 * Issue 7: with the operator running locally against the test bed's kube-full API server, the
 * chart's sample PCMCluster reconciles to Ready. The local operator authenticates with a token
 * of the chart's own ServiceAccount (TokenRequest), scoped to one namespace
 * (operator.watchNamespace), and uses the chart's Lease name: it runs with exactly the rights
 * the chart grants, so this also proves the least-privilege RBAC is enough for a full
 * reconcile (StatefulSet, Deployment, Services, ConfigMap, PDB, discovery RBAC, status, Events).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needService, repoRoot } from '../../services/env.js';
import { Helm, chartDir } from './helm.js';
import { Kube, type KubeObject, randomSuffix, waitFor } from './kube.js';

const helmEnv = needService('helm', ['PCM_TEST_HELM']);
const kubeEnv = needService('kube-full', ['PCM_TEST_KUBECONFIG', 'PCM_TEST_KUBE_FULL']);

interface Cluster extends KubeObject {
  status?: { observedGeneration?: number; replicas?: number; readyReplicas?: number; assignmentsGeneration?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

describe.skipIf(!helmEnv || !kubeEnv)('the chart sample PCMCluster reconciles to Ready (local operator, chart ServiceAccount)', () => {
  let kube: Kube;
  let helm: Helm;
  let dir = '';
  let operator: ChildProcess | undefined;
  let output = '';
  const ns = `pcm-helm-sample-${randomSuffix()}`;

  beforeAll(async () => {
    kube = new Kube(kubeEnv!.PCM_TEST_KUBECONFIG!);
    helm = new Helm(helmEnv!.PCM_TEST_HELM!, kubeEnv!.PCM_TEST_KUBECONFIG!);
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-helm-sample-'));
    await kube.createNamespace(ns);
  });
  afterAll(async () => {
    if (operator && operator.exitCode === null) {
      operator.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 3000));
      if (operator.exitCode === null) operator.kill('SIGKILL');
    }
    helm?.run(['uninstall', 'pcm', '-n', ns, '--ignore-not-found']);
    await kube?.deleteNamespace(ns).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs with the sample, runs `pcm operator` as the chart ServiceAccount, and the sample becomes Ready', async () => {
    helm.ok(
      [
        'install', 'pcm', chartDir, '-n', ns, '--wait', '--timeout', '180s',
        '--set', `operator.watchNamespace=${ns}`,
        '--set', 'sampleCluster.enabled=true',
        '--set', 'sampleCluster.spec.gateways.replicas=2',
        '--set', 'sampleCluster.spec.discovery.replicas=1',
      ],
      240_000,
    );
    // Namespace scope: the rights end at the watched namespace.
    const sa = `system:serviceaccount:${ns}:pcm-operator`;
    expect(await kube.can(sa, [], { verb: 'list', group: 'pcm.dev', resource: 'pcmclusters', namespace: ns })).toBe(true);
    expect(await kube.can(sa, [], { verb: 'list', group: 'pcm.dev', resource: 'pcmclusters' })).toBe(false);
    expect(await kube.can(sa, [], { verb: 'create', group: 'apps', resource: 'statefulsets', namespace: 'default' })).toBe(false);
    const sample = await kube.get<Cluster>('pcm.dev/v1alpha1', 'PCMCluster', 'pcm', ns);
    expect(sample?.spec).toMatchObject({ gateways: { replicas: 2, image: 'pcm:0.1.0' }, auth: { secretName: 'pcm-auth' } });

    // The operator exactly as the chart runs it in its pod, with the pod's identity and rights.
    const token = await kube.serviceAccountToken(ns, 'pcm-operator', 1800);
    const kubeconfig = path.join(dir, 'sa.kubeconfig');
    writeFileSync(kubeconfig, kube.kubeconfigForToken(token, ns), { mode: 0o600 });
    operator = spawn(process.execPath, ['bin/pcm.js', 'operator', '--kubeconfig', kubeconfig], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        PCM_NAMESPACE: ns,
        PCM_LEASE_NAMESPACE: ns,
        PCM_LEASE_NAME: 'pcm-operator',
        PCM_IDENTITY: 'helm-test-local',
        PCM_LOG_LEVEL: 'info',
      },
    });
    operator.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    operator.stderr!.on('data', (b: Buffer) => (output += b.toString()));

    const ready = await waitFor(
      'PCMCluster pcm Ready=True',
      async () => {
        if (operator!.exitCode !== null) throw new Error(`operator exited ${operator!.exitCode}: ${output.slice(-2000)}`);
        const c = await kube.get<Cluster>('pcm.dev/v1alpha1', 'PCMCluster', 'pcm', ns);
        return c?.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ? c : undefined;
      },
      180_000,
      1000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\noperator output (tail):\n${output.slice(-3000)}`);
    });

    expect(ready.status).toMatchObject({ replicas: 2, readyReplicas: 2 });
    expect(ready.status!.observedGeneration).toBe(ready.metadata.generation);
    expect(ready.status!.assignmentsGeneration).toBeGreaterThan(0);
    // Everything the reconcile owns exists, made with the chart's RBAC only.
    for (const [apiVersion, kind, name] of [
      ['apps/v1', 'StatefulSet', 'pcm-gateway'],
      ['apps/v1', 'Deployment', 'pcm-discovery'],
      ['v1', 'ConfigMap', 'pcm-assignments'],
      ['v1', 'Service', 'pcm-gateway'],
      ['policy/v1', 'PodDisruptionBudget', 'pcm-gateway'],
      ['rbac.authorization.k8s.io/v1', 'Role', 'pcm-discovery'],
    ] as const) {
      expect(await kube.get(apiVersion, kind, name, ns), `${kind}/${name}`).toBeDefined();
    }
    expect(await kube.get('coordination.k8s.io/v1', 'Lease', 'pcm-operator', ns)).toMatchObject({ spec: { holderIdentity: 'helm-test-local' } });
    // KubeApiError messages read "VERB /path: 403 ..."; the API server says "forbidden".
    expect(output).not.toMatch(/\bforbidden\b|: 403 /i);
  });

  it('helm upgrade keeps the sample auth Secret keys (lookup), so terminals keep their tokens', async () => {
    const before = await kube.get<KubeObject & { data: Record<string, string> }>('v1', 'Secret', 'pcm-auth', ns);
    expect(before?.data.jwtSecret).toBeTruthy();
    helm.ok(['upgrade', 'pcm', chartDir, '-n', ns, '--reuse-values', '--set', 'operator.logLevel=debug', '--wait', '--timeout', '180s'], 240_000);
    const after = await kube.get<KubeObject & { data: Record<string, string> }>('v1', 'Secret', 'pcm-auth', ns);
    expect(after!.data).toEqual(before!.data);
  });

  it('the operator stops cleanly on SIGTERM', async () => {
    expect(operator).toBeDefined();
    const exited = new Promise<number | null>((resolve) => operator!.once('exit', (code) => resolve(code)));
    operator!.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))]);
    expect(code).toBe(0);
  });
});
