import { LRUCache } from 'lru-cache';
import { PcmError } from '../../common/errors.js';
import type { MessageStore, QueueState } from '../ports/message-store.js';

export interface QueueLimitOptions {
  /** Most pending (unacked, unexpired) messages one terminal may hold; 0 = no limit. */
  maxPending: number;
  /**
   * How old this gateway's view of a terminal's counter and ack cursor may be before a send that
   * looks near the limit reads them again (other gateways append and ack too). Default 2 s.
   */
  staleMs?: number;
  /**
   * How long an exact pending count is reused while the cursor has not moved (sends accepted
   * since are added to it). Default 30 s: a full terminal that keeps being sent to costs one
   * count per period, not one per refused send (on Couchbase a count reads every pending seq).
   */
  countReuseMs?: number;
  /** Terminals whose view is kept (LRU). Default 100,000. */
  maxTerminals?: number;
  /**
   * Called when a fresh exact count finds a terminal full: at most once per terminal per
   * `countReuseMs`, so a log line here cannot flood (the engine logs a warning).
   */
  onFull?: (terminalId: string, pending: number, limit: number) => void;
}

/** What this gateway last knew of one terminal's queue. */
interface View {
  epoch: string | undefined;
  /** Highest seq known to be assigned (an upper bound of what the counter said, plus our own appends). */
  lastSeq: number;
  /** Ack cursor as last read or acked here; 0 until known (so lastSeq - ackedSeq over-estimates). */
  ackedSeq: number;
  /** When counter and cursor were last read from the store; 0 = never (only our own appends seen). */
  readAt: number;
  /** An exact pending count taken while the cursor was `acked` and the counter `lastSeq`. */
  count?: { pending: number; lastSeq: number; acked: number; at: number };
}

/**
 * Per-terminal queue limit (PCM_MAX_PENDING_PER_TERMINAL, docs/sender-api.md): a send to a
 * terminal that already holds `maxPending` pending messages is refused with 429
 * PCM_ERR_QUEUE_FULL before anything is stored, so one terminal that never comes back (or one
 * runaway sender) cannot fill the store every other terminal depends on. Nothing accepted is
 * ever dropped to make room (invariant 2.1): the limit only refuses new sends.
 *
 * Cost: on the common path nothing but a map lookup. `lastSeq - ackedSeq` is an upper bound of
 * the pending count (expired and collapsed messages still sit inside it). Only when that bound
 * reaches the limit are counter and cursor read again (if older than `staleMs`) and, if the
 * bound still says so, the exact count (`countPending`); that count is reused, plus what was
 * accepted since, while the cursor does not move, for `countReuseMs`. A terminal first seen by
 * this gateway is not checked until its first append here tells us its counter: a brand-new
 * terminal cannot be over the limit, and an old one gets counter and cursor read at its next
 * send.
 *
 * It is a safety limit, not an exact quota: sends racing each other to the same terminal, or
 * accepted meanwhile by other gateways, can take it over by that many (documented).
 */
export class QueueLimit {
  readonly maxPending: number;
  private readonly staleMs: number;
  private readonly countReuseMs: number;
  private readonly views: LRUCache<string, View>;
  private readonly onFull: QueueLimitOptions['onFull'];

  constructor(
    opts: QueueLimitOptions,
    private readonly store: Pick<MessageStore, 'state' | 'countPending'>,
  ) {
    if (!Number.isInteger(opts.maxPending) || opts.maxPending < 0) throw new RangeError(`maxPending must be a whole number >= 0, got ${opts.maxPending}`);
    this.maxPending = opts.maxPending;
    this.staleMs = opts.staleMs ?? 2_000;
    this.countReuseMs = opts.countReuseMs ?? 30_000;
    this.views = new LRUCache({ max: opts.maxTerminals ?? 100_000 });
    this.onFull = opts.onFull;
  }

  /**
   * Resolves when a send to `terminalId` may be stored; rejects with PCM_ERR_QUEUE_FULL when the
   * terminal already holds the limit. Returns undefined (no promise) on the common path.
   */
  check(terminalId: string, now: number): Promise<void> | undefined {
    if (this.maxPending === 0) return undefined;
    const v = this.views.get(terminalId);
    if (!v || v.lastSeq - v.ackedSeq < this.maxPending) return undefined;
    return this.slowCheck(terminalId, v, now);
  }

  /** A message was stored for the terminal (not an idempotent replay). */
  appended(terminalId: string, seq: number, epoch: string, replaced: boolean): void {
    if (this.maxPending === 0) return;
    let v = this.views.peek(terminalId);
    if (!v || (v.epoch !== undefined && v.epoch !== epoch)) {
      v = { epoch, lastSeq: 0, ackedSeq: 0, readAt: 0 };
      this.views.set(terminalId, v);
    }
    v.epoch = epoch;
    if (seq > v.lastSeq) v.lastSeq = seq;
    // a collapse replaced a pending message: the exact count did not grow
    if (replaced && v.count) v.count.lastSeq = Math.min(v.lastSeq, v.count.lastSeq + 1);
  }

  /** The terminal's cursor moved to `ackedSeq` (an ack on this gateway). */
  acked(terminalId: string, ackedSeq: number): void {
    const v = this.maxPending === 0 ? undefined : this.views.peek(terminalId);
    if (v && ackedSeq > v.ackedSeq) v.ackedSeq = ackedSeq;
  }

  /** Counter and cursor as just read from the store (a connect, a drain). */
  observed(terminalId: string, state: QueueState, now: number): void {
    if (this.maxPending === 0) return;
    const v = this.views.peek(terminalId);
    if (v) this.apply(v, state, now);
  }

  private async slowCheck(terminalId: string, v: View, now: number): Promise<void> {
    if (now - v.readAt >= this.staleMs) {
      this.apply(v, await this.store.state(terminalId), now);
      if (v.lastSeq - v.ackedSeq < this.maxPending) return;
    }
    const c = v.count;
    let pending: number;
    if (c && c.acked === v.ackedSeq && now - c.at < this.countReuseMs) {
      // counted recently and nothing was acked since: add what was accepted here since then
      pending = c.pending + (v.lastSeq - c.lastSeq);
    } else {
      pending = await this.store.countPending(terminalId, now);
      v.count = { pending, lastSeq: v.lastSeq, acked: v.ackedSeq, at: now };
      if (pending >= this.maxPending) this.onFull?.(terminalId, pending, this.maxPending);
    }
    if (pending >= this.maxPending) {
      throw new PcmError(
        'PCM_ERR_QUEUE_FULL',
        `terminal ${terminalId} already holds ${pending} pending messages (limit ${this.maxPending}, PCM_MAX_PENDING_PER_TERMINAL); nothing was stored: retry after it has connected and acked`,
        { details: { terminalId, pending, limit: this.maxPending } },
      );
    }
  }

  private apply(v: View, state: QueueState, now: number): void {
    if (v.epoch !== undefined && v.epoch !== state.epoch) {
      // the counter was recreated (new epoch): forget everything known of the old one
      v.lastSeq = 0;
      v.ackedSeq = 0;
      v.count = undefined;
    }
    v.epoch = state.epoch;
    if (state.lastSeq > v.lastSeq) v.lastSeq = state.lastSeq;
    if (state.lastAckedSeq > v.ackedSeq) v.ackedSeq = state.lastAckedSeq;
    v.readAt = now;
  }
}
