import { PcmError } from '../../../common/errors.js';
import type {
  AckResult,
  AppendResult,
  MessageStore,
  NewMessage,
  PendingQuery,
  QueueState,
  StoredMessage,
} from '../../ports/message-store.js';
import {
  ackBeyondLastSeq,
  checkAckSeq,
  checkNewMessage,
  idempotencyTtlSeconds,
  isLive,
  newEpoch,
  toStoredMessage,
} from '../store-shared.js';

/** One terminal's mini-queue: the same shape as the KV model of DESIGN.md section 4. */
interface Queue {
  epoch: string;
  /** `ctr::<t>`: highest seq assigned. */
  counter: number;
  /** Ack cursor. */
  cursor: number;
  /** `msg::<t>::<seq>`; insertion order is seq order because appends are synchronous here. */
  messages: Map<number, StoredMessage>;
  /** `col::<t>::<key>` -> seq of the newest message with that key. */
  collapse: Map<string, number>;
}

interface IdempotencyRecord {
  result: AppendResult;
  expiresAt: number;
}

/**
 * In-memory MessageStore: the reference implementation of the port and what unit tests of
 * the delivery engine run on. Not durable: a process restart loses everything, so it is
 * never the default for `pcm dev` (that is SQLite). Every method body runs synchronously
 * after its first line, so concurrent calls are serialized by the event loop: that is
 * what makes seq assignment, collapse and idempotency atomic here.
 */
export class MemoryMessageStore implements MessageStore {
  readonly kind = 'memory';
  private readonly queues = new Map<string, Queue>();
  private readonly idempotency = new Map<string, IdempotencyRecord>();
  private closed = false;
  private idemWrites = 0;

  async append(msg: NewMessage, now: number): Promise<AppendResult> {
    this.checkOpen();
    checkNewMessage(msg);
    const idemKey = msg.idempotencyKey !== undefined ? `${msg.terminalId}\u0000${msg.idempotencyKey}` : undefined;
    if (idemKey !== undefined) {
      const rec = this.idempotency.get(idemKey);
      if (rec && rec.expiresAt > now) return { ...rec.result, message: { ...rec.result.message }, duplicate: true };
    }
    const q = this.queue(msg.terminalId, true)!;
    const seq = ++q.counter;
    const message = toStoredMessage(msg, seq, now);
    // ttl 0 = deliver now or drop (invariant 2.4): it takes a seq but is never pending.
    if (msg.ttlSeconds > 0) q.messages.set(seq, message);
    let collapsedSeq: number | undefined;
    if (msg.collapseKey !== undefined) {
      const older = q.collapse.get(msg.collapseKey);
      q.collapse.set(msg.collapseKey, seq);
      // Only an undelivered (unacked) older message is replaced (invariant 2.5); one already
      // expired is removed too, but it was not pending any more, so no collapse is reported.
      const old = older !== undefined && older > q.cursor ? q.messages.get(older) : undefined;
      if (old) {
        q.messages.delete(old.seq);
        if (old.expiresAt > now) collapsedSeq = old.seq;
      }
    }
    const result: AppendResult = { message, epoch: q.epoch, duplicate: false };
    if (collapsedSeq !== undefined) result.collapsedSeq = collapsedSeq;
    if (idemKey !== undefined) {
      // Expired records are dropped now and then, so a long-running process doesn't grow forever.
      if (++this.idemWrites % 1024 === 0) for (const [k, r] of this.idempotency) if (r.expiresAt <= now) this.idempotency.delete(k);
      this.idempotency.set(idemKey, { result: { ...result, message: { ...message } }, expiresAt: now + idempotencyTtlSeconds(msg.ttlSeconds) * 1000 });
    }
    return { ...result, message: { ...message } };
  }

  async pending(terminalId: string, query: PendingQuery): Promise<StoredMessage[]> {
    this.checkOpen();
    const q = this.queue(terminalId, false);
    if (!q || query.limit <= 0) return [];
    const after = Math.max(q.cursor, query.afterSeq ?? 0);
    const out: StoredMessage[] = [];
    for (const [seq, m] of q.messages) {
      if (!isLive(m, query.now)) {
        q.messages.delete(seq); // expired: gone for good, like a document expiry
        continue;
      }
      if (seq <= after) continue;
      out.push({ ...m });
      if (out.length >= query.limit) break;
    }
    return out;
  }

  async ack(terminalId: string, seq: number): Promise<AckResult> {
    this.checkOpen();
    checkAckSeq(terminalId, seq);
    const q = this.queue(terminalId, false);
    const lastSeq = q?.counter ?? 0;
    if (seq > lastSeq) throw ackBeyondLastSeq(terminalId, seq, lastSeq);
    if (!q || seq <= q.cursor) return { lastAckedSeq: q?.cursor ?? 0, advanced: false };
    q.cursor = seq;
    for (const s of q.messages.keys()) {
      if (s > seq) break;
      q.messages.delete(s);
    }
    for (const [key, s] of q.collapse) if (s <= seq) q.collapse.delete(key);
    return { lastAckedSeq: seq, advanced: true };
  }

  async state(terminalId: string): Promise<QueueState> {
    this.checkOpen();
    const q = this.queue(terminalId, true)!;
    return { epoch: q.epoch, lastSeq: q.counter, lastAckedSeq: q.cursor };
  }

  async findIdempotent(terminalId: string, idempotencyKey: string, now: number): Promise<AppendResult | undefined> {
    this.checkOpen();
    const rec = this.idempotency.get(`${terminalId}\u0000${idempotencyKey}`);
    return rec && rec.expiresAt > now ? { ...rec.result, message: { ...rec.result.message }, duplicate: true } : undefined;
  }

  async countPending(terminalId: string, now: number): Promise<number> {
    this.checkOpen();
    const q = this.queue(terminalId, false);
    if (!q) return 0;
    let n = 0;
    for (const [seq, m] of q.messages) if (seq > q.cursor && isLive(m, now)) n++;
    return n;
  }

  async ping(): Promise<void> {
    this.checkOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /**
   * Test hook for the contract suite: forgets the terminal's counter (and with it the
   * queue), as if its `ctr::<t>` record were lost. The next use starts a new epoch.
   */
  loseCounter(terminalId: string): void {
    this.queues.delete(terminalId);
  }

  private queue(terminalId: string, create: boolean): Queue | undefined {
    let q = this.queues.get(terminalId);
    if (!q && create) {
      q = { epoch: newEpoch(), counter: 0, cursor: 0, messages: new Map(), collapse: new Map() };
      this.queues.set(terminalId, q);
    }
    return q;
  }

  private checkOpen(): void {
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', 'the memory message store is closed');
  }
}
