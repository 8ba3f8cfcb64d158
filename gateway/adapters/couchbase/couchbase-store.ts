import { randomUUID } from 'node:crypto';
import { LookupInSpec, MutateInSpec, type GetResult } from 'couchbase';
import { sleep } from '../../../common/backoff.js';
import { PcmError } from '../../../common/errors.js';
import { silentLogger, type Logger } from '../../../common/logger.js';
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
  newEpoch,
  toStoredMessage,
} from '../store-shared.js';
import type { CouchbaseStoreConfig } from './couchbase-config.js';
import { CAS_ATTEMPTS, CouchbaseConnection, isCasMismatch, isExists, isNotFound } from './couchbase-connection.js';
import { keys } from './couchbase-keys.js';

/** `ctr::<t>` and `cur::<t>`: a seq within an epoch. */
interface SeqDoc {
  epoch: string;
  seq: number;
}

/** `msg::<t>::<seq>`, short field names: millions of these live in the bucket. */
interface MessageDoc {
  t: string;
  s: number;
  /** counter epoch the seq belongs to; a doc from an older epoch is a stale leftover */
  e: string;
  id: string;
  p: string;
  c: number;
  x: number;
  r?: string;
  k?: string;
}

interface CollapseDoc extends SeqDoc {
  key: string;
}

interface IdempotencyDoc {
  state: 'pending' | 'done';
  /** random per append attempt: recognizes our own insert after an ambiguous timeout */
  owner: string;
  at: number;
  result?: AppendResult;
}

export interface CouchbaseMessageStoreOptions {
  /** Concurrent gets per batch when reading the pending range (DESIGN.md section 4). */
  batchSize?: number;
  /** A pending idempotency record older than this is taken over (its writer died). */
  idempotencyStaleMs?: number;
  /** How long an append waits for a concurrent append with the same idempotency key. */
  idempotencyWaitMs?: number;
  /** Where best-effort failures after the commit point are reported (default: silent). */
  logger?: Logger;
}

/**
 * MessageStore on Couchbase KV only (DESIGN.md section 4, issue 4): a terminal's queue is
 * addressed by its counter. Append = increment `ctr::<t>` (sub-document counter on a JSON
 * doc that also carries the epoch), then upsert `msg::<t>::<seq>` with the TTL as expiry.
 * That upsert is the commit point: any failure before it leaves at most a gap in the
 * seqs (skipped by readers) and the sender gets PCM_ERR_STORE_UNAVAILABLE (503); steps
 * after it (collapse bookkeeping, the idempotency result) are best effort, because the
 * message is already durable and must be reported as accepted (invariant 2.1).
 * Pending = (cursor, counter], read with batches of concurrent gets, skipping gaps.
 */
export class CouchbaseMessageStore implements MessageStore {
  readonly kind = 'couchbase';
  private readonly batchSize: number;
  private readonly idemStaleMs: number;
  private readonly idemWaitMs: number;
  private closed = false;
  private readonly log: Logger;

  constructor(
    readonly conn: CouchbaseConnection,
    private readonly opts: CouchbaseMessageStoreOptions & { ownsConnection?: boolean } = {},
  ) {
    this.batchSize = opts.batchSize ?? 256;
    this.idemStaleMs = opts.idempotencyStaleMs ?? 30_000;
    this.idemWaitMs = opts.idempotencyWaitMs ?? 3_000;
    this.log = opts.logger ?? silentLogger;
  }

  /** Connects (waitUntilReady, bounded retries) and returns a store that owns the connection. */
  static async connect(cfg: CouchbaseStoreConfig, opts: CouchbaseMessageStoreOptions = {}): Promise<CouchbaseMessageStore> {
    return new CouchbaseMessageStore(await CouchbaseConnection.connect(cfg), { ...opts, ownsConnection: true });
  }

  private get coll() {
    return this.conn.collection;
  }

  async append(msg: NewMessage, now: number): Promise<AppendResult> {
    checkNewMessage(msg);
    const t = msg.terminalId;
    let owner: string | undefined;
    if (msg.idempotencyKey !== undefined) {
      const claim = await this.claimIdempotency(msg, now);
      if ('duplicate' in claim) return claim.duplicate;
      owner = claim.owner;
    }
    let result: AppendResult;
    try {
      const { seq, epoch } = await this.nextSeq(t);
      const message = toStoredMessage(msg, seq, now);
      // ttl 0 = deliver now or drop (invariant 2.4): it takes a seq but is never stored.
      if (msg.ttlSeconds > 0) {
        await this.conn.op('store message', () => this.coll.upsert(keys.message(t, seq), toDoc(message, epoch), { expiry: msg.ttlSeconds }));
      }
      result = { message, epoch, duplicate: false };
    } catch (err) {
      if (owner !== undefined) await this.releaseIdempotency(msg, owner);
      throw err;
    }
    // Committed. From here on failures must not turn into a 503 for a stored message.
    if (msg.collapseKey !== undefined) {
      const collapsedSeq = await this.collapse(msg, result).catch((err: unknown) => {
        // The older message may stay pending too: a duplicate-ish delivery, never a loss.
        this.log.warn({ err, terminalId: t, seq: result.message.seq }, 'collapse bookkeeping failed after the message was stored');
        return undefined;
      });
      if (collapsedSeq !== undefined) result.collapsedSeq = collapsedSeq;
    }
    if (msg.idempotencyKey !== undefined) {
      const doc: IdempotencyDoc = { state: 'done', owner: owner!, at: now, result };
      await this.conn
        .op('record idempotency result', () =>
          this.coll.upsert(keys.idempotency(t, msg.idempotencyKey!), doc, { expiry: idempotencyTtlSeconds(msg.ttlSeconds) }),
        )
        .catch((err: unknown) => {
          // A sender retry finds the record pending and takes it over once stale: at worst a second copy.
          this.log.warn({ err, terminalId: t, seq: result.message.seq }, 'recording the idempotency result failed after the message was stored');
        });
    }
    return result;
  }

  async pending(terminalId: string, query: PendingQuery): Promise<StoredMessage[]> {
    if (query.limit <= 0) return [];
    const [ctr, cursor] = await Promise.all([this.readSeqDoc(keys.counter(terminalId)), this.readSeqDoc(keys.cursor(terminalId))]);
    if (!ctr) return [];
    const out: StoredMessage[] = [];
    let from = Math.max(cursorIn(cursor, ctr.epoch), query.afterSeq ?? 0) + 1;
    const batch = Math.min(this.batchSize, Math.max(query.limit, 8));
    while (from <= ctr.seq && out.length < query.limit) {
      const to = Math.min(ctr.seq, from + batch - 1);
      const docs = await Promise.all(range(from, to).map((seq) => this.readMessage(terminalId, seq)));
      for (const d of docs) {
        if (!d || d.e !== ctr.epoch || d.t !== terminalId || d.x <= query.now) continue; // gap, stale epoch or expired
        out.push(fromDoc(d));
        if (out.length >= query.limit) break;
      }
      from = to + 1;
    }
    return out;
  }

  async ack(terminalId: string, seq: number): Promise<AckResult> {
    checkAckSeq(terminalId, seq);
    const ctr = await this.readSeqDoc(keys.counter(terminalId));
    const lastSeq = ctr?.seq ?? 0;
    if (seq > lastSeq) throw ackBeyondLastSeq(terminalId, seq, lastSeq);
    if (!ctr) return { lastAckedSeq: 0, advanced: false };
    const key = keys.cursor(terminalId);
    // CAS loop: the cursor only ever moves forward, whoever wins a race (invariant 2.3).
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const cur = await this.conn.op('read cursor', () => this.coll.get(key)).catch(notFoundAsUndefined);
      const prev = cursorIn(cur?.content as SeqDoc | undefined, ctr.epoch);
      if (seq <= prev) return { lastAckedSeq: prev, advanced: false };
      const doc: SeqDoc = { epoch: ctr.epoch, seq };
      try {
        if (cur) await this.conn.op('advance cursor', () => this.coll.replace(key, doc, { cas: cur.cas }));
        else await this.conn.op('create cursor', () => this.coll.insert(key, doc));
      } catch (err) {
        if (isCasMismatch(err)) continue;
        throw err;
      }
      // Readers already ignore seqs <= cursor; removing the documents just frees space early.
      await this.removeMessages(terminalId, prev + 1, seq);
      return { lastAckedSeq: seq, advanced: true };
    }
    throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `ack cursor of ${terminalId} is too contended; retry`);
  }

  async state(terminalId: string): Promise<QueueState> {
    let ctr = await this.readSeqDoc(keys.counter(terminalId));
    if (!ctr) {
      await this.createCounter(terminalId);
      ctr = await this.readSeqDoc(keys.counter(terminalId));
      if (!ctr) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `counter of ${terminalId} vanished while being created; retry`);
    }
    const cursor = await this.readSeqDoc(keys.cursor(terminalId));
    return { epoch: ctr.epoch, lastSeq: ctr.seq, lastAckedSeq: cursorIn(cursor, ctr.epoch) };
  }

  async countPending(terminalId: string, now: number): Promise<number> {
    const [ctr, cursor] = await Promise.all([this.readSeqDoc(keys.counter(terminalId)), this.readSeqDoc(keys.cursor(terminalId))]);
    if (!ctr) return 0;
    let n = 0;
    // Exact, so O(pending): only the epoch and expiry fields are fetched (sub-document lookup).
    for (let from = cursorIn(cursor, ctr.epoch) + 1; from <= ctr.seq; from += this.batchSize) {
      const to = Math.min(ctr.seq, from + this.batchSize - 1);
      const live = await Promise.all(
        range(from, to).map(async (seq) => {
          const r = await this.conn
            .op('count pending', () => this.coll.lookupIn(keys.message(terminalId, seq), [LookupInSpec.get('e'), LookupInSpec.get('x')]))
            .catch(notFoundAsUndefined);
          return !!r && r.content[0]?.value === ctr.epoch && Number(r.content[1]?.value) > now;
        }),
      );
      n += live.filter(Boolean).length;
    }
    return n;
  }

  async ping(): Promise<void> {
    // A get of a key that never exists is one KV round trip; exists() would need GET_META.
    // One attempt with a short timeout: /readyz must answer quickly, not retry for seconds.
    await this.conn.op('ping', () => this.coll.get('pcm::ping', { timeout: 1_000 }), { attempts: 1 }).catch(notFoundAsUndefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.opts.ownsConnection) await this.conn.close();
  }

  /**
   * Next seq and its epoch. The counter is a JSON doc `{epoch, seq}` incremented with a
   * sub-document counter; the epoch is read right after. If the doc was recreated between
   * the two calls the re-read shows a lower seq, and the seq (from a dead epoch) is
   * discarded: a gap, never a seq labelled with the wrong epoch (invariant 2.3).
   */
  private async nextSeq(t: string): Promise<{ seq: number; epoch: string }> {
    const key = keys.counter(t);
    for (let attempt = 0; attempt < 5; attempt++) {
      let seq: number;
      try {
        const r = await this.conn.op('increment counter', () => this.coll.mutateIn(key, [MutateInSpec.increment('seq', 1)]));
        seq = Number(r.content[0]!.value);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await this.createCounter(t);
        continue;
      }
      const ctr = await this.readSeqDoc(key);
      if (ctr && ctr.seq >= seq) return { seq, epoch: ctr.epoch };
    }
    throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `counter of ${t} keeps disappearing; retry`);
  }

  /** A new counter document is a new epoch; losing the race to another creator is fine. */
  private async createCounter(t: string): Promise<void> {
    const doc: SeqDoc = { epoch: newEpoch(), seq: 0 };
    await this.conn.op('create counter', () => this.coll.insert(keys.counter(t), doc)).catch((err) => {
      if (!isExists(err)) throw err;
    });
  }

  /**
   * Race-safe idempotency: the key record is inserted first (insert fails if it exists),
   * so of concurrent appends with one key exactly one proceeds; the others wait for its
   * result. A record left `pending` by a writer that died is taken over after a while.
   */
  private async claimIdempotency(msg: NewMessage, now: number): Promise<{ owner: string } | { duplicate: AppendResult }> {
    const key = keys.idempotency(msg.terminalId, msg.idempotencyKey!);
    const owner = randomUUID();
    const expiry = idempotencyTtlSeconds(msg.ttlSeconds);
    const pendingDoc: IdempotencyDoc = { state: 'pending', owner, at: now };
    const startedAt = Date.now();
    const deadline = startedAt + this.idemWaitMs;
    for (;;) {
      try {
        await this.conn.op('claim idempotency key', () => this.coll.insert(key, pendingDoc, { expiry }));
        return { owner };
      } catch (err) {
        if (!isExists(err)) throw err;
      }
      const existing = await this.conn.op('read idempotency key', () => this.coll.get(key)).catch(notFoundAsUndefined);
      if (existing) {
        const d = existing.content as IdempotencyDoc;
        if (d.state === 'done' && d.result) return { duplicate: { ...d.result, duplicate: true } };
        if (d.owner === owner) return { owner }; // our own insert, acknowledged ambiguously
        // `at` is in the callers' time base; add how long this call has been waiting.
        if (now + (Date.now() - startedAt) - d.at > this.idemStaleMs) {
          try {
            await this.conn.op('take over idempotency key', () => this.coll.replace(key, pendingDoc, { cas: existing.cas, expiry }));
            return { owner };
          } catch (err) {
            if (!isCasMismatch(err) && !isNotFound(err)) throw err;
          }
        }
      }
      if (Date.now() >= deadline) {
        throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `an append with idempotency key "${msg.idempotencyKey}" is still in progress; retry`);
      }
      await sleep(15);
    }
  }

  /** After a failed append: free the key so the sender's retry can store the message. */
  private async releaseIdempotency(msg: NewMessage, owner: string): Promise<void> {
    const key = keys.idempotency(msg.terminalId, msg.idempotencyKey!);
    try {
      const cur = await this.conn.op('read idempotency key', () => this.coll.get(key));
      if ((cur.content as IdempotencyDoc).owner === owner) {
        await this.conn.op('release idempotency key', () => this.coll.remove(key, { cas: cur.cas }));
      }
    } catch {
      // The store is failing; the record expires or is taken over once stale.
    }
  }

  /**
   * Points `col::<t>::<key>` at the new message (CAS loop; it only moves to a higher seq)
   * and removes the older message it pointed to, if that one is still unacked (invariant 2.5).
   * If a newer message with the same key won a race, this (older) message is the one removed.
   */
  private async collapse(msg: NewMessage, result: AppendResult): Promise<number | undefined> {
    const t = msg.terminalId;
    const { seq } = result.message;
    const key = keys.collapse(t, msg.collapseKey!);
    const doc: CollapseDoc = { epoch: result.epoch, seq, key: msg.collapseKey! };
    const expiry = Math.max(msg.ttlSeconds, 1);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const cur: GetResult | undefined = await this.conn.op('read collapse key', () => this.coll.get(key)).catch(notFoundAsUndefined);
      if (!cur) {
        try {
          await this.conn.op('create collapse key', () => this.coll.insert(key, doc, { expiry }));
          return undefined;
        } catch (err) {
          if (isExists(err)) continue;
          throw err;
        }
      }
      const d = cur.content as CollapseDoc;
      const older = d.epoch === result.epoch ? d.seq : undefined;
      if (older !== undefined && older >= seq) {
        if (older > seq) await this.removeMessages(t, seq, seq); // a newer one already replaced us
        return undefined;
      }
      try {
        await this.conn.op('swap collapse key', () => this.coll.replace(key, doc, { cas: cur.cas, expiry }));
      } catch (err) {
        if (isCasMismatch(err)) continue;
        throw err;
      }
      if (older === undefined) return undefined;
      const removed = await this.conn
        .op('remove collapsed message', () => this.coll.remove(keys.message(t, older)))
        .then(() => true, (err) => (isNotFound(err) ? false : Promise.reject(err)));
      if (!removed) return undefined; // already acked (and removed) or expired
      const cursor = cursorIn(await this.readSeqDoc(keys.cursor(t)), result.epoch);
      return older > cursor ? older : undefined;
    }
    return undefined;
  }

  private async removeMessages(t: string, from: number, to: number): Promise<void> {
    for (let s = from; s <= to; s += this.batchSize) {
      const end = Math.min(to, s + this.batchSize - 1);
      await Promise.all(
        range(s, end).map((seq) => this.conn.op('remove acked message', () => this.coll.remove(keys.message(t, seq))).catch(() => undefined)),
      );
    }
  }

  private async readSeqDoc(key: string): Promise<SeqDoc | undefined> {
    const r = await this.conn.op(`read ${key.split('::')[0]}`, () => this.coll.get(key)).catch(notFoundAsUndefined);
    return r?.content as SeqDoc | undefined;
  }

  private async readMessage(t: string, seq: number): Promise<MessageDoc | undefined> {
    const r = await this.conn.op('read message', () => this.coll.get(keys.message(t, seq))).catch(notFoundAsUndefined);
    return r?.content as MessageDoc | undefined;
  }
}

function notFoundAsUndefined(err: unknown): undefined {
  if (isNotFound(err)) return undefined;
  throw err;
}

/** The cursor only counts within the counter's epoch; a cursor from an older one is 0. */
function cursorIn(cursor: SeqDoc | undefined, epoch: string): number {
  return cursor && cursor.epoch === epoch ? cursor.seq : 0;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let s = from; s <= to; s++) out.push(s);
  return out;
}

function toDoc(m: StoredMessage, epoch: string): MessageDoc {
  const d: MessageDoc = { t: m.terminalId, s: m.seq, e: epoch, id: m.messageId, p: m.payload, c: m.createdAt, x: m.expiresAt };
  if (m.correlationId !== undefined) d.r = m.correlationId;
  if (m.collapseKey !== undefined) d.k = m.collapseKey;
  return d;
}

function fromDoc(d: MessageDoc): StoredMessage {
  const m: StoredMessage = { terminalId: d.t, seq: d.s, messageId: d.id, payload: d.p, createdAt: d.c, expiresAt: d.x };
  if (d.r !== undefined) m.correlationId = d.r;
  if (d.k !== undefined) m.collapseKey = d.k;
  return m;
}
