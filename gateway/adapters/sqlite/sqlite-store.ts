import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../../../common/clock.js';
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
  newEpoch,
  toStoredMessage,
} from '../store-shared.js';
import { openSqlite, sqliteError, type SqliteOptions } from './sqlite-open.js';

/**
 * The KV model of DESIGN.md section 4 as SQLite tables: `counters` holds ctr::<t> (with its
 * epoch) and the ack cursor in one row; `messages` the msg::<t>::<seq> records; `collapse`
 * and `idempotency` the key records. Cursor and counter share a row, so losing one loses
 * both and a new epoch never inherits a stale cursor (invariant 2.3).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS counters (
  terminal_id TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  acked_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  terminal_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  message_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  correlation_id TEXT,
  collapse_key TEXT,
  PRIMARY KEY (terminal_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_expiry ON messages (expires_at);
CREATE TABLE IF NOT EXISTS collapse (
  terminal_id TEXT NOT NULL,
  collapse_key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (terminal_id, collapse_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
  terminal_id TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  result TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (terminal_id, idem_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_at);
`;

interface CounterRow {
  epoch: string;
  last_seq: number;
  acked_seq: number;
}

interface MessageRow {
  terminal_id: string;
  seq: number;
  message_id: string;
  payload: string;
  created_at: number;
  expires_at: number;
  correlation_id: string | null;
  collapse_key: string | null;
}

interface QueuedAppend {
  msg: NewMessage;
  now: number;
  resolve: (r: AppendResult) => void;
  reject: (err: unknown) => void;
}

interface QueuedAck {
  terminalId: string;
  seq: number;
  resolve: (r: AckResult) => void;
  reject: (err: unknown) => void;
}

/** One ack's outcome inside a group: a result, or its own PCM_ERR_INVALID_ACK. */
type AckOutcome = { ok: AckResult } | { err: PcmError };

export interface SqliteMessageStoreOptions extends SqliteOptions {
  /** Most appends committed in one transaction (group commit); default 256. */
  maxBatch?: number;
  /** How often expired messages and idempotency records are deleted (ms); 0 disables. */
  sweepIntervalMs?: number;
  /** Time source of the periodic sweep (the gateway's clock). Default: the system clock. */
  clock?: Clock;
}

/**
 * The embedded default store (`pcm dev`). better-sqlite3 is synchronous, so each method
 * is one transaction that runs to completion before any other JS: appends from one process
 * are serialized; BEGIN IMMEDIATE plus busy_timeout serializes writers across processes.
 */
export class SqliteMessageStore implements MessageStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly sweepTimer?: NodeJS.Timeout;
  private readonly stmt;
  private readonly appendBatchTx;
  /** Appends waiting for the next group commit (see append()). */
  private queued: QueuedAppend[] = [];
  private readonly maxBatch: number;
  private readonly ackBatchTx;
  /** Acks waiting for the next group commit (see ack()). */
  private queuedAcks: QueuedAck[] = [];
  private readonly stateTx;
  private closed = false;

  constructor(opts: SqliteMessageStoreOptions) {
    this.db = openSqlite(opts);
    try {
      this.db.exec(SCHEMA);
    } catch (err) {
      this.db.close();
      throw sqliteError(err, 'cannot create the SQLite message store schema');
    }
    const db = this.db;
    this.stmt = {
      getCounter: db.prepare<[string], CounterRow>('SELECT epoch, last_seq, acked_seq FROM counters WHERE terminal_id = ?'),
      insertCounter: db.prepare('INSERT INTO counters (terminal_id, epoch, last_seq, acked_seq) VALUES (?, ?, 0, 0)'),
      bumpCounter: db.prepare<[string], { last_seq: number; epoch: string; acked_seq: number }>(
        'UPDATE counters SET last_seq = last_seq + 1 WHERE terminal_id = ? RETURNING last_seq, epoch, acked_seq',
      ),
      setCursor: db.prepare('UPDATE counters SET acked_seq = ? WHERE terminal_id = ?'),
      dropMessages: db.prepare('DELETE FROM messages WHERE terminal_id = ?'),
      dropCollapse: db.prepare('DELETE FROM collapse WHERE terminal_id = ?'),
      insertMessage: db.prepare(
        `INSERT INTO messages (terminal_id, seq, message_id, payload, created_at, expires_at, correlation_id, collapse_key)
         VALUES (@terminal_id, @seq, @message_id, @payload, @created_at, @expires_at, @correlation_id, @collapse_key)`,
      ),
      getCollapse: db.prepare<[string, string], { seq: number }>('SELECT seq FROM collapse WHERE terminal_id = ? AND collapse_key = ?'),
      setCollapse: db.prepare(
        `INSERT INTO collapse (terminal_id, collapse_key, seq) VALUES (?, ?, ?)
         ON CONFLICT (terminal_id, collapse_key) DO UPDATE SET seq = excluded.seq`,
      ),
      deleteMessage: db.prepare('DELETE FROM messages WHERE terminal_id = ? AND seq = ?'),
      deleteAcked: db.prepare('DELETE FROM messages WHERE terminal_id = ? AND seq <= ?'),
      deleteAckedCollapse: db.prepare('DELETE FROM collapse WHERE terminal_id = ? AND seq <= ?'),
      getIdem: db.prepare<[string, string, number], { result: string }>(
        'SELECT result FROM idempotency WHERE terminal_id = ? AND idem_key = ? AND expires_at > ?',
      ),
      setIdem: db.prepare(
        `INSERT INTO idempotency (terminal_id, idem_key, result, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (terminal_id, idem_key) DO UPDATE SET result = excluded.result, expires_at = excluded.expires_at`,
      ),
      pending: db.prepare<[string, number, number, number, number], MessageRow>(
        `SELECT * FROM messages WHERE terminal_id = ? AND seq > ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?`,
      ),
      countPending: db.prepare<[string, number, number], { n: number }>(
        'SELECT count(*) AS n FROM messages WHERE terminal_id = ? AND seq > ? AND expires_at > ?',
      ),
      sweepMessages: db.prepare('DELETE FROM messages WHERE expires_at <= ?'),
      sweepIdem: db.prepare('DELETE FROM idempotency WHERE expires_at <= ?'),
    };
    this.appendBatchTx = db.transaction((batch: QueuedAppend[]) => batch.map((q) => this.appendInTx(q.msg, q.now)));
    this.maxBatch = opts.maxBatch ?? 256;
    this.ackBatchTx = db.transaction((batch: QueuedAck[]) => this.ackBatchInTx(batch));
    this.stateTx = db.transaction((terminalId: string) => this.counter(terminalId));
    const sweepMs = opts.sweepIntervalMs ?? 60_000;
    if (sweepMs > 0) {
      const clock = opts.clock ?? systemClock;
      this.sweepTimer = setInterval(() => this.sweep(clock.now()), sweepMs);
      this.sweepTimer.unref();
    }
  }

  /**
   * Group commit: appends arriving in the same event-loop turn are written in ONE
   * transaction, and each promise resolves only after that transaction committed (and,
   * with synchronous=FULL, was fsynced): still durable before 202 (invariant 2.1), but one
   * fsync is shared by every concurrent sender instead of one each. Order within the batch
   * is call order, so seqs follow arrival. If the transaction fails, every append in it
   * fails with PCM_ERR_STORE_UNAVAILABLE and none of them is visible.
   */
  async append(msg: NewMessage, now: number): Promise<AppendResult> {
    checkNewMessage(msg);
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', 'SQLite message store is closed (append)');
    return new Promise<AppendResult>((resolve, reject) => {
      this.queued.push({ msg, now, resolve, reject });
      if (this.queued.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    while (this.queued.length > 0) {
      const batch = this.queued.splice(0, this.maxBatch);
      let results: AppendResult[];
      try {
        // .immediate: take the write lock up front, so a second process cannot interleave.
        results = this.run('append', () => this.appendBatchTx.immediate(batch));
      } catch (err) {
        for (const q of batch) q.reject(err);
        continue;
      }
      batch.forEach((q, i) => q.resolve(results[i]!));
    }
  }

  async pending(terminalId: string, query: PendingQuery): Promise<StoredMessage[]> {
    if (query.limit <= 0) return [];
    return this.run('pending', () => {
      const cursor = this.stmt.getCounter.get(terminalId)?.acked_seq ?? 0;
      return this.stmt.pending.all(terminalId, cursor, query.afterSeq ?? 0, query.now, query.limit).map(fromRow);
    });
  }

  /**
   * Group commit, as for append(): acks arriving in the same event-loop turn share ONE
   * transaction (one fsync with synchronous=FULL), and each promise resolves only after it
   * committed, so an advanced cursor is durable before the caller sees it (invariant 2.2).
   * Within the group each ack is judged in call order against the cursor as left by the acks
   * before it, exactly as if run one by one; only the highest cursor per terminal is written.
   * An ack beyond lastSeq fails alone with PCM_ERR_INVALID_ACK and changes nothing.
   */
  async ack(terminalId: string, seq: number): Promise<AckResult> {
    checkAckSeq(terminalId, seq);
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', 'SQLite message store is closed (ack)');
    return new Promise<AckResult>((resolve, reject) => {
      this.queuedAcks.push({ terminalId, seq, resolve, reject });
      if (this.queuedAcks.length === 1) setImmediate(() => this.flushAcks());
    });
  }

  private flushAcks(): void {
    while (this.queuedAcks.length > 0) {
      const batch = this.queuedAcks.splice(0, this.maxBatch);
      let outcomes: AckOutcome[];
      try {
        outcomes = this.run('ack', () => this.ackBatchTx.immediate(batch));
      } catch (err) {
        for (const q of batch) q.reject(err);
        continue;
      }
      batch.forEach((q, i) => {
        const o = outcomes[i]!;
        if ('ok' in o) q.resolve(o.ok);
        else q.reject(o.err);
      });
    }
  }

  async state(terminalId: string): Promise<QueueState> {
    return this.run('state', () => {
      // Called on every connect: a plain read when the counter exists; the IMMEDIATE write
      // transaction (write lock, commit) only to create a missing counter with a new epoch.
      const c = this.stmt.getCounter.get(terminalId) ?? this.stateTx.immediate(terminalId);
      return { epoch: c.epoch, lastSeq: c.last_seq, lastAckedSeq: c.acked_seq };
    });
  }

  async countPending(terminalId: string, now: number): Promise<number> {
    return this.run('countPending', () => {
      const cursor = this.stmt.getCounter.get(terminalId)?.acked_seq ?? 0;
      return this.stmt.countPending.get(terminalId, cursor, now)!.n;
    });
  }

  async ping(): Promise<void> {
    this.run('ping', () => this.db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush(); // appends already accepted into the queue are committed, not dropped
    this.flushAcks(); // likewise for acks
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.db.close();
  }

  /** Deletes expired messages and idempotency records (pending() already ignores them). */
  sweep(now: number): void {
    if (this.closed) return;
    this.db.transaction(() => {
      this.stmt.sweepMessages.run(now);
      this.stmt.sweepIdem.run(now);
    })();
  }

  private appendInTx(msg: NewMessage, now: number): AppendResult {
    const s = this.stmt;
    if (msg.idempotencyKey !== undefined) {
      const prior = s.getIdem.get(msg.terminalId, msg.idempotencyKey, now);
      if (prior) return { ...(JSON.parse(prior.result) as AppendResult), duplicate: true };
    }
    this.counter(msg.terminalId);
    const c = s.bumpCounter.get(msg.terminalId)!;
    const message = toStoredMessage(msg, c.last_seq, now);
    // ttl 0 = deliver now or drop (invariant 2.4): it takes a seq but is never stored as pending.
    if (msg.ttlSeconds > 0) s.insertMessage.run(toRow(message));
    let collapsedSeq: number | undefined;
    if (msg.collapseKey !== undefined) {
      const older = s.getCollapse.get(msg.terminalId, msg.collapseKey)?.seq;
      s.setCollapse.run(msg.terminalId, msg.collapseKey, message.seq);
      // Only an undelivered (unacked) older message is replaced (invariant 2.5).
      if (older !== undefined && older > c.acked_seq && s.deleteMessage.run(msg.terminalId, older).changes > 0) {
        collapsedSeq = older;
      }
    }
    const result: AppendResult = { message, epoch: c.epoch, duplicate: false };
    if (collapsedSeq !== undefined) result.collapsedSeq = collapsedSeq;
    if (msg.idempotencyKey !== undefined) {
      s.setIdem.run(msg.terminalId, msg.idempotencyKey, JSON.stringify(result), now + idempotencyTtlSeconds(msg.ttlSeconds) * 1000);
    }
    return result;
  }

  /**
   * Judges every ack of the group in call order against an in-memory copy of each terminal's
   * counter (read once: nothing else writes inside this transaction), then writes one cursor
   * update and one delete per terminal whose cursor advanced (coalescing to the highest seq).
   */
  private ackBatchInTx(batch: QueuedAck[]): AckOutcome[] {
    const cursors = new Map<string, { lastSeq: number; exists: boolean; stored: number; acked: number }>();
    const outcomes = batch.map(({ terminalId, seq }): AckOutcome => {
      let c = cursors.get(terminalId);
      if (!c) {
        const row = this.stmt.getCounter.get(terminalId);
        c = { lastSeq: row?.last_seq ?? 0, exists: row !== undefined, stored: row?.acked_seq ?? 0, acked: row?.acked_seq ?? 0 };
        cursors.set(terminalId, c);
      }
      if (seq > c.lastSeq) return { err: ackBeyondLastSeq(terminalId, seq, c.lastSeq) };
      if (!c.exists || seq <= c.acked) return { ok: { lastAckedSeq: c.acked, advanced: false } };
      c.acked = seq;
      return { ok: { lastAckedSeq: seq, advanced: true } };
    });
    for (const [terminalId, c] of cursors) {
      if (c.acked <= c.stored) continue;
      this.stmt.setCursor.run(c.acked, terminalId);
      this.stmt.deleteAcked.run(terminalId, c.acked);
      this.stmt.deleteAckedCollapse.run(terminalId, c.acked);
    }
    return outcomes;
  }

  /**
   * The terminal's counter row, created with a fresh random epoch if missing. A missing row
   * with leftover messages means the counter was lost: those rows belong to the old epoch
   * and would collide with the new seqs, so they are abandoned.
   */
  private counter(terminalId: string): CounterRow {
    const row = this.stmt.getCounter.get(terminalId);
    if (row) return row;
    this.stmt.dropMessages.run(terminalId);
    this.stmt.dropCollapse.run(terminalId);
    const epoch = newEpoch();
    this.stmt.insertCounter.run(terminalId, epoch);
    return { epoch, last_seq: 0, acked_seq: 0 };
  }

  private run<T>(what: string, fn: () => T): T {
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `SQLite message store is closed (${what})`);
    try {
      return fn();
    } catch (err) {
      if (err instanceof PcmError) throw err;
      throw sqliteError(err, `SQLite ${what} failed`);
    }
  }
}

function toRow(m: StoredMessage): MessageRow {
  return {
    terminal_id: m.terminalId,
    seq: m.seq,
    message_id: m.messageId,
    payload: m.payload,
    created_at: m.createdAt,
    expires_at: m.expiresAt,
    correlation_id: m.correlationId ?? null,
    collapse_key: m.collapseKey ?? null,
  };
}

function fromRow(r: MessageRow): StoredMessage {
  const m: StoredMessage = {
    terminalId: r.terminal_id,
    seq: r.seq,
    messageId: r.message_id,
    payload: r.payload,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
  if (r.correlation_id !== null) m.correlationId = r.correlation_id;
  if (r.collapse_key !== null) m.collapseKey = r.collapse_key;
  return m;
}
