import type { KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import { API_VERSION, KIND, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_COMPONENT, MANAGER } from '../api/group.js';
import type { KubeClient } from '../kube/client.js';
import { Informer, type InformerSpec } from '../kube/informers.js';
import { LeaderElector } from '../kube/leader.js';
import type { KubeObject } from '../kube/object.js';
import { EventRecorder } from './events.js';
import { reconcileCluster, type ReconcileOutcome } from './reconcile.js';
import { WorkQueue } from './workqueue.js';

/**
 * The operator runtime (issue 6, "Runtime"): leader election first; the leader starts
 * informers on PCMClusters and on everything it owns, maps each event to its cluster key
 * (`namespace/name`), coalesces them in the work queue, and runs one reconcile pass per key
 * at a time. Every cluster is also re-queued each resync period (level-based: a missed event
 * costs at most one period). Stopping drains the in-flight pass before the lease is released.
 */
export interface OperatorOptions {
  kube: KubeClient;
  kubeConfig: KubeConfig;
  /** Watch one namespace; undefined = all namespaces. */
  namespace?: string;
  identity: string;
  leaseNamespace: string;
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  resyncMs?: number;
  clock: Clock;
  log: Logger;
  /** Observes every pass start and end (tests, metrics). */
  onPassStart?: (key: string) => void;
  onPass?: (key: string, outcome: ReconcileOutcome | undefined, error?: unknown) => void;
}

const OWNED: { apiVersion: string; kind: string }[] = [
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
];

export class Operator {
  readonly queue = new WorkQueue();
  private readonly informers: Informer[] = [];
  private readonly elector: LeaderElector;
  private readonly events: EventRecorder;
  private resyncTimer: NodeJS.Timeout | undefined;
  private worker: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private clusters: Informer | undefined;
  private ended = false;
  passes = 0;
  /** Informer caches listed while leading (the /readyz signal, operator/health/server.ts). */
  synced = false;

  constructor(private readonly opts: OperatorOptions) {
    this.elector = new LeaderElector(opts.kube, {
      namespace: opts.leaseNamespace,
      name: opts.leaseName ?? 'pcm-operator',
      identity: opts.identity,
      leaseDurationMs: opts.leaseDurationMs,
      renewDeadlineMs: opts.renewDeadlineMs,
      retryPeriodMs: opts.retryPeriodMs,
      clock: opts.clock,
      log: opts.log,
    });
    this.events = new EventRecorder(opts.kube, opts.clock, opts.log, opts.identity);
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Starts campaigning; resolves at once. `done()` resolves when leading ended (lost or stopped). */
  start(): void {
    this.running = this.elector.run((signal) => this.lead(signal));
    this.running.then(() => (this.ended = true), () => (this.ended = true));
  }

  /** For /healthz: false once campaigning/leading has ended (the CLI then exits). */
  alive(): boolean {
    return this.running !== undefined && !this.ended && !this.stopping;
  }

  /** PCMClusters in the informer cache (0 unless leading and synced). */
  clusterCount(): number {
    return this.synced ? (this.clusters?.list().length ?? 0) : 0;
  }

  done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async lead(signal: AbortSignal): Promise<void> {
    const { log } = this.opts;
    const enqueue = (key: string | undefined) => key && this.queue.add(key);
    const clusterSpec: InformerSpec = { apiVersion: API_VERSION, kind: KIND, namespace: this.opts.namespace };
    const clusters = new Informer(this.opts.kube, this.opts.kubeConfig, clusterSpec, log, (_ev, obj) => enqueue(keyOf(obj)));
    this.informers.push(clusters);
    this.clusters = clusters;
    for (const k of OWNED) {
      this.informers.push(
        new Informer(this.opts.kube, this.opts.kubeConfig, { ...k, namespace: this.opts.namespace, labelSelector: `${LABEL_MANAGED_BY}=${MANAGER}` }, log, (_ev, obj) => enqueue(ownerKey(obj))),
      );
    }
    // Gateway pods: readiness and the pcm.dev/drained signal.
    this.informers.push(
      new Informer(this.opts.kube, this.opts.kubeConfig, { apiVersion: 'v1', kind: 'Pod', namespace: this.opts.namespace, labelSelector: `${LABEL_COMPONENT}=gateway,${LABEL_MANAGED_BY}=${MANAGER}` }, log, (_ev, obj) => {
        const instance = obj.metadata.labels?.[LABEL_INSTANCE];
        if (instance && obj.metadata.namespace) enqueue(`${obj.metadata.namespace}/${instance}`);
      }),
    );
    const aborted = new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    // A missing CRD or an unreachable API server keeps the informers from syncing; losing the
    // lease meanwhile must still end leading.
    await Promise.race([Promise.all(this.informers.map((i) => i.start())), aborted]);
    if (signal.aborted) {
      await this.shutdownWork();
      return;
    }
    this.synced = true;
    log.info({ namespace: this.opts.namespace ?? '(all)', clusters: clusters.list().length }, 'informers synced');
    const resync = () => clusters.list().forEach((c) => enqueue(keyOf(c)));
    resync();
    this.resyncTimer = setInterval(resync, this.opts.resyncMs ?? 60_000);
    this.resyncTimer.unref();
    this.worker = this.work();
    await aborted;
    await this.shutdownWork();
  }

  private async work(): Promise<void> {
    const { log } = this.opts;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const [namespace, name] = key.split('/') as [string, string];
      this.opts.onPassStart?.(key);
      try {
        const outcome = await reconcileCluster({ kube: this.opts.kube, clock: this.opts.clock, log, events: this.events }, { namespace, name });
        this.passes++;
        this.queue.forget(key);
        if (outcome?.errors.length) this.queue.retry(key);
        else if (outcome?.requeueAfterMs !== undefined) this.queue.addAfter(key, outcome.requeueAfterMs + 50);
        this.opts.onPass?.(key, outcome);
      } catch (err) {
        const delay = this.queue.retry(key);
        log.warn({ err, cluster: key, retryInMs: delay }, 'reconcile failed');
        this.opts.onPass?.(key, undefined, err);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** Stop taking work and wait for the pass in flight (it must finish before the lease is released). */
  private async shutdownWork(): Promise<void> {
    this.synced = false;
    clearInterval(this.resyncTimer);
    this.queue.shutDown();
    await this.worker;
    await Promise.all(this.informers.splice(0).map((i) => i.stop()));
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.done();
    this.stopping = true;
    await this.shutdownWork();
    await this.elector.stop();
    await this.done();
  }
}

export const keyOf = (o: KubeObject): string | undefined => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : undefined);

/** The PCMCluster controlling an owned object, from its controller owner reference. */
export function ownerKey(o: KubeObject): string | undefined {
  const owner = (o.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === KIND && r.apiVersion.startsWith(API_VERSION.split('/')[0]!));
  return owner && o.metadata.namespace ? `${o.metadata.namespace}/${owner.name}` : undefined;
}
