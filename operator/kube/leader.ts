import type { Clock } from '../../common/clock.js';
import { sleep } from '../../common/backoff.js';
import type { Logger } from '../../common/logger.js';
import { isConflict, type KubeClient } from './client.js';
import type { KubeObject, ObjectRef } from './object.js';

/**
 * Leader election on a coordination.k8s.io/v1 Lease (issue 6: "two operator replicas never
 * reconcile at once"), written with plain get / create / replace: the replace carries the
 * Lease's resourceVersion, so of two candidates racing for an expired lease exactly one wins
 * (the other gets 409 Conflict).
 *
 * Expiry is judged on the local clock from when this candidate last SAW the record change
 * (client-go's rule), never from the holder's renewTime, so clock skew between nodes cannot
 * make two leaders. The leader gives up (signal aborted) when it has not renewed for
 * renewDeadline, which is shorter than leaseDuration: it stops before anyone else may start.
 */
export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock: Clock;
  log: Logger;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

const microTime = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observedRecord = '';
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private readonly stopController = new AbortController();

  constructor(
    private readonly kube: KubeClient,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
  }

  private get ref(): ObjectRef {
    return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: this.opts.name, namespace: this.opts.namespace };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** One attempt to acquire or renew; true when this candidate holds the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.opts.clock.now();
    const me = this.opts.identity;
    const desired: LeaseSpec = {
      holderIdentity: me,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    const lease = await this.kube.get<Lease>(this.ref);
    if (!lease) {
      try {
        await this.kube.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.opts.namespace }, spec: desired });
        this.observe(JSON.stringify(desired), now);
        return true;
      } catch (err) {
        if (isConflict(err)) return false; // someone else created it first
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify(spec);
    if (record !== this.observedRecord) this.observe(record, now);
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
    const expired = now >= this.observedAt + durationMs;
    if (holder !== '' && holder !== me && !expired) return false;
    const next: LeaseSpec = {
      ...desired,
      acquireTime: holder === me ? (spec.acquireTime ?? desired.acquireTime) : desired.acquireTime,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === me ? 0 : 1),
    };
    try {
      await this.kube.replace({ ...lease, spec: next });
      this.observe(JSON.stringify(next), now);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private observe(record: string, at: number): void {
    this.observedRecord = record;
    this.observedAt = at;
  }

  /**
   * Campaigns until it leads, then calls `lead(signal)` and keeps renewing; the signal aborts
   * when leadership is lost or stop() is called. Resolves after leading has ended.
   */
  async run(lead: (signal: AbortSignal) => Promise<void> | void): Promise<void> {
    const log = this.opts.log;
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        log.warn({ err }, 'leader election: lease request failed');
      }
      if (ok) break;
      await sleep(this.retryPeriodMs, this.stopController.signal).catch(() => undefined);
    }
    if (this.stopped) return;
    this.leading = true;
    log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, 'became leader');
    const leadership = new AbortController();
    const leading = Promise.resolve(lead(leadership.signal));
    let lastRenew = this.opts.clock.now();
    while (!this.stopped) {
      await sleep(this.retryPeriodMs, this.stopController.signal).catch(() => undefined);
      if (this.stopped) break;
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        log.warn({ err }, 'leader election: renew failed');
      }
      const now = this.opts.clock.now();
      if (ok) lastRenew = now;
      else if (now - lastRenew >= this.renewDeadlineMs || !(await this.stillHolder())) {
        log.error('lost leadership');
        break;
      }
    }
    this.leading = false;
    leadership.abort(new Error('leadership ended'));
    await leading.catch(() => undefined);
  }

  private async stillHolder(): Promise<boolean> {
    try {
      const lease = await this.kube.get<Lease>(this.ref);
      return lease?.spec?.holderIdentity === this.opts.identity;
    } catch {
      return true; // unknown: keep going until the renew deadline decides
    }
  }

  /** Stops campaigning/leading; releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopController.abort();
    // Release only what we hold, whether or not we still think we lead: a replica that stepped
    // down after a slow renewal may still be named in the Lease until it expires.
    // A renewal already in flight when stop() began can land between our read and our write:
    // that is a conflict (409), so read again and retry rather than leave the Lease held until
    // it expires (the next replica would wait the whole lease duration).
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await this.kube.get<Lease>(this.ref);
        if (lease?.spec?.holderIdentity === this.opts.identity) {
          await this.kube.replace({ ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.opts.clock.now()) } });
        }
        return;
      } catch (err) {
        if (isConflict(err) && attempt < 5) continue;
        this.opts.log.warn({ err }, 'leader election: could not release the lease');
        return;
      }
    }
  }
}
