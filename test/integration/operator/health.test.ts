import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { needService } from '../../services/env.js';
import { silentLogger } from '../../../common/logger.js';
import { systemClock } from '../../../common/clock.js';
import { loadOperatorConfig } from '../../../operator/config.js';
import { startOperator, type StartedOperator } from '../../../operator/main.js';
import type { KubeClient } from '../../../operator/kube/client.js';
import type { PCMClusterStatus } from '../../../operator/api/schema.js';
import { clusterObject, clusterRefOf, createNamespace, deleteNamespace, installCrd, kubeClient, until } from './helpers.js';

/**
 * The operator's /healthz, /readyz, /metrics (PCM_HEALTH_PORT) on a real kube-apiserver with
 * two replicas: the leader is ready once its caches sync, the standby answers ready too, and
 * the reconcile metrics follow a real PCMCluster.
 */
const kubeEnv = needService('kube', ['PCM_TEST_KUBECONFIG']);

describe.skipIf(!kubeEnv)('operator health endpoint against a real kube-apiserver', { timeout: 120_000 }, () => {
  let kube: KubeClient;
  let ns: string;
  const running: StartedOperator[] = [];

  function start(identity: string): StartedOperator {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeEnv!.PCM_TEST_KUBECONFIG!);
    const config = loadOperatorConfig({
      env: { PCM_HEALTH_PORT: '0' },
      flags: { namespace: ns, identity, leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.2, resyncSeconds: 5, logLevel: 'silent' },
    });
    const op = startOperator(config, { kubeConfig: kc, logger: silentLogger, clock: systemClock });
    running.push(op);
    return op;
  }
  const get = async (op: StartedOperator, path: string) => {
    const r = await fetch(`http://127.0.0.1:${(await op.health).port}${path}`);
    return { status: r.status, body: await r.text() };
  };

  beforeAll(async () => {
    kube = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await installCrd(kube);
    ns = await createNamespace(kube, 'pcm-op-health');
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.stop().catch(() => undefined)));
    if (kube && ns) await deleteNamespace(kube, ns);
  });

  it('leader ready after sync, standby ready, metrics follow a reconciled PCMCluster, healthz fails after stop', async () => {
    const a = start('health-a');
    const b = start('health-b');
    const leader = await until('a leader', () => (a.operator.isLeader ? a : b.operator.isLeader ? b : undefined), 10_000, 50);
    const standby = leader === a ? b : a;
    await until('leader ready', async () => (await get(leader, '/readyz')).status === 200, 10_000, 50);
    expect(await get(standby, '/readyz')).toEqual({ status: 200, body: 'ok (standby)\n' });
    expect((await get(standby, '/healthz')).status).toBe(200);

    await kube.create(clusterObject(ns, 'hm'));
    const st = await until('hm reconciled', async () => {
      const s = (await kube.get(clusterRefOf(ns, 'hm')))?.status as PCMClusterStatus | undefined;
      return s?.observedGeneration === 1 ? s : undefined;
    }, 20_000);
    const text = await until('metrics show a success', async () => {
      const t = (await get(leader, '/metrics')).body;
      return /pcm_operator_reconciliations_total\{result="success"\} [1-9]/.test(t) ? t : undefined;
    }, 10_000);
    expect(text).toContain('pcm_operator_leader 1');
    expect(text).toContain('pcm_operator_resources{kind="PCMCluster"} 1');
    expect(text).toContain(`pcm_operator_assignments_generation{namespace="${ns}",name="hm"} ${st.assignmentsGeneration}`);
    expect(text).toMatch(/pcm_operator_reconciliation_duration_seconds_count [1-9]/);
    expect(text).toMatch(/pcm_operator_reconciliations_failed_total \d+/);
    expect((await get(standby, '/metrics')).body).toContain('pcm_operator_leader 0');

    const port = (await standby.health).port;
    await standby.stop();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
