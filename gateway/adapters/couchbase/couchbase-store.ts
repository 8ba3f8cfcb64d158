import { randomUUID } from 'node:crypto';
import { LookupInSpec, MutateInSpec, type DurabilityLevel, type GetResult } from 'couchbase';
import { LRUCache } from 'lru-cache';
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
  /**
   * Gap evidence: the appender's `now` plus the time the append had run when the counter
   * increment returned, so it is never earlier than this seq's increment (see pending()).
   */
  g?: number;
  /** 1 = tombstone: a seq that will never hold a message (collapsed, or ttl 0). */
  z?: 1;
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
  /**
   * Longest an append may take from the start of its counter increment to the end of its
   * message write; past it the append gives up (503) and leaves a permanent gap.
   * Default APPEND_WRITE_BUDGET_MS.
   */
  appendWriteBudgetMs?: number;
  /**
   * A missing seq k is a permanent gap only once a later message was stamped more than
   * this long ago. Must exceed appendWriteBudgetMs plus the worst clock skew between
   * gateways. Default appendWriteBudgetMs + GAP_SKEW_ALLOWANCE_MS.
   */
  gapGraceMs?: number;
  /** Expired message documents stay (filtered) this long past their TTL so their gap is known at once. */
  expiredRetentionSeconds?: number;
  /** Test hook: awaited between the counter increment and the message write. */
  beforeMessageWrite?: (terminalId: string, seq: number) => Promise<void>;
}

/** kvTimeout 2.5 s x 3 attempts + backoff, rounded up generously. */
export const APPEND_WRITE_BUDGET_MS = 10_000;
/** Clock skew tolerated between the gateway that appends and the one that reads. */
export const GAP_SKEW_ALLOWANCE_MS = 30_000;
/** Couchbase reads expiries above 30 days as absolute times: stay below. */
const MAX_RELATIVE_EXPIRY_S = 30 * 86_400 - 1;

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
  /**
   * Exact pending counts, reused while nothing that could change them happened: same epoch,
   * counter and cursor (an append or an ack moves one), no counted message expired yet, and no
   * seq in the range possibly still being written. After appends only the new seqs are read
   * and added (unless one carries a collapse key or is not written yet). Presence polls and the
   * per-terminal queue limit would otherwise read every pending seq each time (docs/storage.md).
   */
  private readonly counts = new LRUCache<string, { epoch: string; counter: number; cursor: number; at: number; until: number; pending: number }>({ max: 10_000 });
  private readonly idemStaleMs: number;
  private readonly idemWaitMs: number;
  private closed = false;
  private readonly log: Logger;
  readonly writeBudgetMs: number;
  readonly gapGraceMs: number;
  private readonly retentionS: number;
  private readonly tombstoneS: number;

  constructor(
    readonly conn: CouchbaseConnection,
    private readonly opts: CouchbaseMessageStoreOptions & { ownsConnection?: boolean } = {},
  ) {
    this.batchSize = opts.batchSize ?? 256;
    this.idemStaleMs = opts.idempotencyStaleMs ?? 30_000;
    this.idemWaitMs = opts.idempotencyWaitMs ?? 3_000;
    this.log = opts.logger ?? silentLogger;
    this.writeBudgetMs = opts.appendWriteBudgetMs ?? APPEND_WRITE_BUDGET_MS;
    this.gapGraceMs = opts.gapGraceMs ?? this.writeBudgetMs + GAP_SKEW_ALLOWANCE_MS;
    if (this.gapGraceMs <= this.writeBudgetMs) {
      throw new PcmError('PCM_ERR_CONFIG', `gapGraceMs (${this.gapGraceMs}) must exceed appendWriteBudgetMs (${this.writeBudgetMs})`);
    }
    this.retentionS = opts.expiredRetentionSeconds ?? 86_400;
    // A tombstone only has to outlive the window in which its absence would be ambiguous.
    this.tombstoneS = Math.ceil(this.gapGraceMs / 1000) * 2 + 60;
  }

  /** Connects (waitUntilReady, bounded retries) and returns a store that owns the connection. */
  static async connect(cfg: CouchbaseStoreConfig, opts: CouchbaseMessageStoreOptions = {}): Promise<CouchbaseMessageStore> {
    return new CouchbaseMessageStore(await CouchbaseConnection.connect(cfg), { ...opts, ownsConnection: true });
  }

  /** PCM_COUCHBASE_DURABILITY on message, tombstone and counter writes; {} = none requested. */
  private get durable(): { durabilityLevel?: DurabilityLevel } {
    return this.conn.durabilityLevel === undefined ? {} : { durabilityLevel: this.conn.durabilityLevel };
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
    const calledAt = Date.now();
    try {
      // Bounded write window (see pending()): readers treat this seq's absence as final only
      // gapGraceMs after a later seq was stamped, so the write must land within the budget.
      const incrementStart = Date.now();
      const deadline = incrementStart + this.writeBudgetMs;
      const { seq, epoch } = await this.nextSeq(t);
      const stamp = now + (Date.now() - calledAt);
      const message = toStoredMessage(msg, seq, now);
      if (this.opts.beforeMessageWrite) await this.opts.beforeMessageWrite(t, seq);
      if (msg.ttlSeconds > 0) {
        const doc = { ...toDoc(message, epoch), g: stamp };
        const expiry = Math.min(msg.ttlSeconds + this.retentionS, MAX_RELATIVE_EXPIRY_S);
        await this.conn.op('store message', () => {
          const left = deadline - Date.now();
          if (left < 50) {
            throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `append to ${t} gave up: seq ${seq} not written within ${this.writeBudgetMs} ms of its counter increment`);
          }
          return this.coll.upsert(keys.message(t, seq), doc, { expiry, timeout: Math.min(left, this.conn.kvTimeoutMs), ...this.durable });
        });
      } else {
        // ttl 0 = deliver now or drop (invariant 2.4): it takes a seq but is never pending.
        // A tombstone marks the gap as final at once; if it fails the gap resolves after grace.
        await this.writeTombstone(t, seq, epoch, stamp, 'insert').catch((err: unknown) => {
          this.log.warn({ err, terminalId: t, seq }, 'ttl-0 tombstone write failed; the gap resolves after the grace period');
        });
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
    const batch = Math.min(this.batchSize, Math.max(query.limit, 8));
    const docs = new BatchReader((from, to) => Promise.all(range(from, to).map((seq) => this.readMessage(terminalId, seq))), ctr.seq, batch);
    const ours = (d: MessageDoc | undefined): d is MessageDoc => !!d && d.e === ctr.epoch && d.t === terminalId;
    let seq = Math.max(cursorIn(cursor, ctr.epoch), query.afterSeq ?? 0) + 1;
    while (seq <= ctr.seq && out.length < query.limit) {
      const d = await docs.get(seq);
      if (ours(d)) {
        if (d.z !== 1 && d.x > query.now) out.push(fromDoc(d)); // else tombstone or expired: a final gap
        seq++;
        continue;
      }
      // Missing (or a stale epoch's leftover about to be overwritten). Its append may still be
      // writing it: concurrent appends write out of seq order. It is final only if the next
      // existing doc of this epoch was stamped more than gapGraceMs ago, since that doc's
      // increment came after this seq's and every append writes within appendWriteBudgetMs.
      let next = seq + 1;
      let evidence: MessageDoc | undefined;
      while (next <= ctr.seq) {
        const n = await docs.get(next);
        if (ours(n)) {
          evidence = n;
          break;
        }
        next++;
      }
      if (!evidence) break; // nothing later to deliver anyway
      if (query.now - (evidence.g ?? evidence.c) <= this.gapGraceMs) break; // possibly in flight: stop before it
      seq = next; // every seq in [seq, next) is a final gap
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

  async findIdempotent(terminalId: string, idempotencyKey: string): Promise<AppendResult | undefined> {
    // the record expires with the server-side document expiry, so `now` is not needed here
    const doc = await this.conn.op('read idempotency key', () => this.coll.get(keys.idempotency(terminalId, idempotencyKey))).catch(notFoundAsUndefined);
    const d = doc?.content as IdempotencyDoc | undefined;
    return d?.state === 'done' && d.result ? { ...d.result, duplicate: true } : undefined;
  }

  async countPending(terminalId: string, now: number): Promise<number> {
    const [ctr, cursor] = await Promise.all([this.readSeqDoc(keys.counter(terminalId)), this.readSeqDoc(keys.cursor(terminalId))]);
    if (!ctr) return 0;
    const acked = cursorIn(cursor, ctr.epoch);
    const hit = this.counts.get(terminalId);
    const fresh = hit && hit.epoch === ctr.epoch && hit.cursor === acked && now >= hit.at && now < hit.until;
    if (fresh && hit.counter === ctr.seq) return hit.pending;
    if (fresh && ctr.seq > hit.counter) {
      // Only appends happened since: count just the new seqs, unless one of them may have
      // changed what was counted (a collapse tombstones an older message) or is not written
      // yet. Then, and for anything else, the exact count below.
      const r = await this.countRange(terminalId, ctr.epoch, hit.counter + 1, ctr.seq, now);
      if (r.lastMissing === 0 && !r.collapses) {
        const pending = hit.pending + r.n;
        this.counts.set(terminalId, { epoch: ctr.epoch, counter: ctr.seq, cursor: acked, at: now, until: Math.min(hit.until, r.until), pending });
        return pending;
      }
    }
    const r = await this.countRange(terminalId, ctr.epoch, acked + 1, ctr.seq, now);
    // Reusable only if no missing seq may still be written: the same rule as pending()'s gaps.
    if (r.lastMissing === 0 || now - r.newestStampAfter > this.gapGraceMs) {
      this.counts.set(terminalId, { epoch: ctr.epoch, counter: ctr.seq, cursor: acked, at: now, until: r.until, pending: r.n });
    }
    return r.n;
  }

  /**
   * Counts the unexpired messages of `epoch` among seqs from..to (sub-document lookups of
   * epoch, expiry, stamps and collapse key only). `until`: when the first counted message
   * expires; `lastMissing`: the highest seq with no document of this epoch (its append may
   * still write it) and `newestStampAfter` the newest stamp after it; `collapses`: a message
   * in the range carries a collapse key (its append may have tombstoned an older one).
   */
  private async countRange(terminalId: string, epoch: string, from: number, to: number, now: number) {
    let n = 0;
    let until = Number.POSITIVE_INFINITY;
    let lastMissing = 0;
    let newestStampAfter = Number.NEGATIVE_INFINITY;
    let collapses = false;
    for (let lo = from; lo <= to; lo += this.batchSize) {
      const hi = Math.min(to, lo + this.batchSize - 1);
      const docs = await Promise.all(
        range(lo, hi).map(async (seq) => {
          const r = await this.conn
            .op('count pending', () =>
              this.coll.lookupIn(keys.message(terminalId, seq), [LookupInSpec.get('e'), LookupInSpec.get('x'), LookupInSpec.get('g'), LookupInSpec.get('c'), LookupInSpec.get('k')]),
            )
            .catch(notFoundAsUndefined);
          if (!r || r.content[0]?.value !== epoch) return { seq, missing: true as const };
          const stamp = Number(r.content[2]?.value ?? r.content[3]?.value);
          return { seq, missing: false as const, expiresAt: Number(r.content[1]?.value), stamp, collapse: r.content[4]?.value !== undefined && r.content[4]?.value !== null };
        }),
      );
      for (const d of docs) {
        if (d.missing) {
          lastMissing = d.seq;
          newestStampAfter = Number.NEGATIVE_INFINITY;
          continue;
        }
        if (d.collapse) collapses = true;
        if (Number.isFinite(d.stamp)) newestStampAfter = Math.max(newestStampAfter, d.stamp);
        if (d.expiresAt > now) {
          n++;
          until = Math.min(until, d.expiresAt);
        }
      }
    }
    return { n, until, lastMissing, newestStampAfter, collapses };
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
        const r = await this.conn.op('increment counter', () => this.coll.mutateIn(key, [MutateInSpec.increment('seq', 1)], this.durable));
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
    await this.conn.op('create counter', () => this.coll.insert(keys.counter(t), doc, this.durable)).catch((err) => {
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
        if (older > seq) await this.writeTombstone(t, seq, result.epoch, Date.now(), 'replace').catch(notFoundAsUndefined); // a newer one already replaced us
        return undefined;
      }
      try {
        await this.conn.op('swap collapse key', () => this.coll.replace(key, doc, { cas: cur.cas, expiry }));
      } catch (err) {
        if (isCasMismatch(err)) continue;
        throw err;
      }
      if (older === undefined) return undefined;
      // Replaced by a tombstone rather than removed, so readers know the gap is final at once.
      const removed = await this.writeTombstone(t, older, result.epoch, Date.now(), 'replace').then(
        () => true,
        (err) => (isNotFound(err) ? false : Promise.reject(err)),
      );
      if (!removed) return undefined; // already acked (and removed) or expired
      const cursor = cursorIn(await this.readSeqDoc(keys.cursor(t)), result.epoch);
      return older > cursor ? older : undefined;
    }
    return undefined;
  }

  /**
   * A seq that will never hold a deliverable message. 'insert' for ttl 0 (the seq is ours
   * alone), 'replace' for collapse (only if the message is still there: not acked/expired).
   */
  private async writeTombstone(t: string, seq: number, epoch: string, stamp: number, how: 'insert' | 'replace'): Promise<void> {
    const doc: MessageDoc = { t, s: seq, e: epoch, id: '', p: '', c: stamp, x: 0, g: stamp, z: 1 }; // x 0: expired for every reader
    const key = keys.message(t, seq);
    if (how === 'insert') await this.conn.op('write tombstone', () => this.coll.upsert(key, doc, { expiry: this.tombstoneS, ...this.durable }));
    else await this.conn.op('write tombstone', () => this.coll.replace(key, doc, { expiry: this.tombstoneS, ...this.durable }));
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

/** Reads the range lazily in batches of concurrent gets, each batch once. */
class BatchReader {
  private readonly cache = new Map<number, MessageDoc | undefined>();
  constructor(
    private readonly read: (from: number, to: number) => Promise<(MessageDoc | undefined)[]>,
    private readonly last: number,
    private readonly batch: number,
  ) {}

  async get(seq: number): Promise<MessageDoc | undefined> {
    if (!this.cache.has(seq)) {
      const to = Math.min(this.last, seq + this.batch - 1);
      const docs = await this.read(seq, to);
      docs.forEach((d, i) => this.cache.set(seq + i, d));
    }
    return this.cache.get(seq);
  }
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
