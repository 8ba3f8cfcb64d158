import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReconcileOutcome } from '../controller/reconcile.js';

/**
 * Strimzi-style reconcile metrics for `pcm operator` (issue 6 "Runtime"; DESIGN.md section 5
 * lists /metrics for every process). A registry of its own, so several operators in one test
 * process never collide on prom-client's global registry.
 */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciliations = new Counter({ name: 'pcm_operator_reconciliations_total', help: 'Reconcile passes by result.', labelNames: ['result'] as const, registers: [this.registry] });
  readonly failed = new Counter({ name: 'pcm_operator_reconciliations_failed_total', help: 'Reconcile passes that failed (threw or reported step errors).', registers: [this.registry] });
  readonly duration = new Histogram({
    name: 'pcm_operator_reconciliation_duration_seconds',
    help: 'Duration of one reconcile pass.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly resources = new Gauge({ name: 'pcm_operator_resources', help: 'Custom resources known to the operator, by kind.', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly leader = new Gauge({ name: 'pcm_operator_leader', help: '1 while this replica holds the leader Lease.', registers: [this.registry] });
  readonly assignmentsGeneration = new Gauge({
    name: 'pcm_operator_assignments_generation',
    help: 'Assignments generation last published per cluster.',
    labelNames: ['namespace', 'name'] as const,
    registers: [this.registry],
  });
  private readonly started = new Map<string, number>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    this.reconciliations.inc({ result: 'success' }, 0);
    this.reconciliations.inc({ result: 'error' }, 0);
    this.failed.inc(0);
    this.leader.set(0);
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'pcm_operator_' });
  }

  passStart(key: string): void {
    this.started.set(key, performance.now());
  }

  passEnd(key: string, outcome: ReconcileOutcome | undefined, error?: unknown): void {
    const t0 = this.started.get(key);
    this.started.delete(key);
    if (t0 !== undefined) this.duration.observe((performance.now() - t0) / 1000);
    const failed = error !== undefined || (outcome?.errors.length ?? 0) > 0;
    this.reconciliations.inc({ result: failed ? 'error' : 'success' });
    if (failed) this.failed.inc();
    const gen = outcome?.status?.assignmentsGeneration;
    if (gen !== undefined) {
      const [namespace = '', name = ''] = key.split('/');
      this.assignmentsGeneration.set({ namespace, name }, gen);
    }
  }
}
