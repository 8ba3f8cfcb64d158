import { afterEach, describe, expect, it } from 'vitest';
import { OperatorMetrics } from './metrics.js';
import { startHealthServer, type HealthSource } from './server.js';

/** The probe semantics the chart relies on (charts/pcm/templates/operator-deployment.yaml), over a real socket. */
describe('operator health server', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  });

  async function serve(source: HealthSource, metrics = new OperatorMetrics()) {
    const s = await startHealthServer(source, metrics, 0, '127.0.0.1');
    closers.push(s.close);
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${s.port}${path}`);
      return { status: r.status, body: await r.text() };
    };
    return { get, metrics };
  }

  it('leader: not ready until caches sync, then ready; /healthz follows liveness', async () => {
    const src = { alive: () => alive, isLeader: true, synced: false, clusterCount: () => 2 };
    let alive = true;
    const { get } = await serve(src);
    expect((await get('/healthz')).status).toBe(200);
    expect(await get('/readyz')).toEqual({ status: 503, body: 'informer caches not synced\n' });
    src.synced = true;
    expect((await get('/readyz')).status).toBe(200);
    alive = false;
    expect((await get('/healthz')).status).toBe(503);
    expect((await get('/readyz')).status).toBe(503);
    expect((await get('/nope')).status).toBe(404);
  });

  it('a standby replica answers ready so a rollout proceeds', async () => {
    const { get } = await serve({ alive: () => true, isLeader: false, synced: false, clusterCount: () => 0 });
    expect(await get('/readyz')).toEqual({ status: 200, body: 'ok (standby)\n' });
  });

  it('/metrics: reconcile counters, failure counter, duration histogram, leader, resources, assignments generation', async () => {
    const src = { alive: () => true, isLeader: true, synced: true, clusterCount: () => 3 };
    const { get, metrics } = await serve(src);
    let text = (await get('/metrics')).body;
    expect(text).toContain('pcm_operator_reconciliations_total{result="success"} 0');
    expect(text).toContain('pcm_operator_leader 1');
    expect(text).toContain('pcm_operator_resources{kind="PCMCluster"} 3');
    metrics.passStart('ns/a');
    metrics.passEnd('ns/a', { results: [], errors: [], statusWritten: true, paused: false, status: { assignmentsGeneration: 7 } as never });
    metrics.passStart('ns/a');
    metrics.passEnd('ns/a', { results: [], errors: ['statefulset: conflict'], statusWritten: true, paused: false });
    metrics.passStart('ns/b');
    metrics.passEnd('ns/b', undefined, new Error('boom'));
    src.isLeader = false;
    text = (await get('/metrics')).body;
    expect(text).toContain('pcm_operator_reconciliations_total{result="success"} 1');
    expect(text).toContain('pcm_operator_reconciliations_total{result="error"} 2');
    expect(text).toContain('pcm_operator_reconciliations_failed_total 2');
    expect(text).toContain('pcm_operator_reconciliation_duration_seconds_count 3');
    expect(text).toContain('pcm_operator_assignments_generation{namespace="ns",name="a"} 7');
    expect(text).toContain('pcm_operator_leader 0');
    expect(text).toContain('pcm_operator_resources{kind="PCMCluster"} 0');
  });
});
