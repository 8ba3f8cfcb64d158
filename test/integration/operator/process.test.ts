import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needService, repoRoot } from '../../services/env.js';
import { silentLogger } from '../../../common/logger.js';
import { systemClock } from '../../../common/clock.js';
import type { KubeClient } from '../../../operator/kube/client.js';
import { reconcileCluster } from '../../../operator/controller/reconcile.js';
import type { PCMClusterStatus } from '../../../operator/api/schema.js';
import { clusterObject, clusterRefOf, createNamespace, deleteNamespace, expectedObjects, installCrd, kubeClient, ownedObjects, settle, until } from './helpers.js';

/**
 * `pcm operator` as a real process: SIGKILL it while it reconciles, start it again, and the
 * cluster converges with no duplicate objects; the new process waits for the dead one's Lease
 * to expire first. SIGTERM shuts down cleanly (exit 0) and releases the Lease.
 */
const kubeEnv = needService('kube', ['PCM_TEST_KUBECONFIG']);
const full = kubeEnv?.PCM_TEST_KUBE_FULL === '1';

describe.skipIf(!kubeEnv)('pcm operator process', () => {
  let kube: KubeClient;
  let ns: string;
  const children: ChildProcess[] = [];

  function spawnOperator(identity: string): { child: ChildProcess; output: () => string } {
    let out = '';
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, 'bin/pcm.js'), 'operator', '--kubeconfig', kubeEnv!.PCM_TEST_KUBECONFIG!, '--namespace', ns, '--identity', identity,
        '--lease-duration-seconds', '4', '--renew-deadline-seconds', '3', '--retry-period-seconds', '0.5', '--log-level', 'info'],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    children.push(child);
    return { child, output: () => out };
  }
  const exited = (c: ChildProcess) => new Promise<number | null>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code))));

  beforeAll(async () => {
    kube = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    await installCrd(kube);
    ns = await createNamespace(kube, 'pcm-op-proc');
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (kube && ns) await deleteNamespace(kube, ns);
  });

  it('SIGKILL mid-reconcile, restart: converges without duplicates; SIGTERM exits 0 and releases the Lease', async () => {
    // Several clusters so the first process is certainly mid-work when it dies.
    const names = ['p1', 'p2', 'p3', 'p4'];
    for (const n of names) await kube.create(clusterObject(ns, n));
    const first = spawnOperator('first');
    await until('first objects', async () => (await ownedObjects(kube, ns)).length > 0, 60_000, 20);
    first.child.kill('SIGKILL');
    await exited(first.child);
    const partial = (await ownedObjects(kube, ns)).length;
    expect(partial).toBeGreaterThan(0);

    const t0 = Date.now();
    const second = spawnOperator('second');
    await until(
      'all clusters reconciled',
      async () => {
        for (const n of names) if (((await kube.get(clusterRefOf(ns, n)))?.status as PCMClusterStatus | undefined)?.observedGeneration !== 1) return false;
        return true;
      },
      60_000,
      200,
    );
    expect(Date.now() - t0, 'the second process waited for the dead leader\'s Lease').toBeGreaterThanOrEqual(2_000);
    expect(await ownedObjects(kube, ns)).toEqual(names.flatMap((n) => expectedObjects(n)).sort());
    // Level-based: nothing left to do (under kube-full once the pods settled and the running
    // operator absorbed their status; it keeps running, so give it a moment after settling).
    if (full) {
      await settle(kube, ns, true);
      await new Promise((r) => setTimeout(r, 3000));
    }
    const check = kubeClient(kubeEnv!.PCM_TEST_KUBECONFIG!);
    for (const n of names) await reconcileCluster({ kube: check, clock: systemClock, log: silentLogger }, { namespace: ns, name: n });
    expect(check.writeLog).toEqual([]);

    second.child.kill('SIGTERM');
    expect(await exited(second.child), second.output().slice(-2000)).toBe(0);
    const lease = await kube.get<{ spec: { holderIdentity?: string } } & import('../../../operator/kube/object.js').KubeObject>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: 'pcm-operator' });
    expect(lease!.spec.holderIdentity ?? '').toBe('');
  }, 150_000);
});
