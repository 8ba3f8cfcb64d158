import type Database from 'better-sqlite3';
import { PcmError, type ErrorCode } from '../../../common/errors.js';
import type { AckResult, AppendResult, NewMessage, PendingQuery, QueueState, StoredMessage } from '../../ports/message-store.js';
import { ackBeyondLastSeq, idempotencyTtlSeconds, newEpoch, toStoredMessage } from '../store-shared.js';
import { openSqlite, sqliteError, type SqliteOptions, type SqliteSynchronous } from './sqlite-open.js';

/**
 * The KV model of DESIGN.md section 4 as SQLite tables: `counters` holds ctr::<t> (with its
 * epoch) and the ack cursor in one row; `messages` the msg::<t>::<seq> records; `collapse`
 * and `idempotency` the key records. Cursor and counter share a row, so losing one loses
 * both and a new epoch never inherits a stale cursor (invariant 2.3).
 *
 * `messages` is a rowid table: rows (with their payloads) are appended at the end of the
 * file in arrival order, and the unique index messages_key finds a terminal's (terminal_id,
 * seq) range. Sends to many terminals then dirty a few table pages plus small index entries
 * per commit, instead of one scattered full-row leaf per terminal: about half the writer's
 * CPU per append when messages pile up for offline terminals (about 10 % more when acks keep the
 * table small: bench/sqlite-layout.bench.ts, docs/benchmarks.md).
 * Files created before this layout keep their WITHOUT ROWID table (keyed the same way):
 * every statement below works on both, so there is nothing to migrate.
 *
 * LAST_SEQ: a terminal's last seq is max(counters.last_seq, the highest seq in `messages`).
 * An append of a stored message writes only its row (which carries the new seq), not the
 * counter: the counters are as many scattered pages as there are terminals, and rewriting one
 * per append cost about a third of every commit's page writes. Everything that deletes rows
 * folds the last seq into the counter first (an ack as it moves the cursor, a sweep before
 * its deletes); a ttl-0 append, which stores no row, writes the counter itself; a collapse
 * deletes an older row only after the newer one is inserted. A clean close folds every
 * counter, so the file reads the same to an earlier version of PCM that trusts
 * counters.last_seq alone (docs/storage.md).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS counters (
  terminal_id TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  acked_seq INTEGER NOT NULL
) WITHOUT ROWID;
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

const MESSAGES = `
CREATE TABLE messages (
  terminal_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  message_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  correlation_id TEXT,
  collapse_key TEXT
);
CREATE UNIQUE INDEX messages_key ON messages (terminal_id, seq);
`;
const MESSAGES_EXPIRY = 'CREATE INDEX IF NOT EXISTS messages_expiry ON messages (expires_at);';

/** Creates the schema; `messages` only if missing (an older file keeps its layout). */
function createSchema(db: Database.Database): void {
  db.transaction(() => {
    db.exec(SCHEMA);
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'").get()) db.exec(MESSAGES);
    db.exec(MESSAGES_EXPIRY);
  }).immediate();
}

/** Most prepared pending statements one connection keeps (one per limit asked for). */
const PENDING_STATEMENTS_MAX = 256;

interface CounterRow {
  epoch: string;
  last_seq: number;
  acked_seq: number;
}

/**
 * The writer's copy of a counter row (COUNTER_CACHE): the logical last seq (LAST_SEQ), the
 * cursor, and the highest seq any collapse row of the terminal may still carry (0: none left;
 * COLLAPSE_UNKNOWN until the first ack that needs it reads it).
 */
interface CachedCounter extends CounterRow {
  collapse_max: number;
}

/** collapse_max of a counter read from the file: not known yet (read by the first ack, not by appends). */
const COLLAPSE_UNKNOWN = -1;

/**
 * How long the fold at close (foldAllLastSeqs) waits for another process's write lock before it
 * leaves the counters as they are (ms). Nothing depends on the fold: every reader takes the
 * last seq from the rows too, and the next close folds.
 */
export const FOLD_BUSY_TIMEOUT_MS = 250;

/** Counters the writer keeps in memory at most (oldest-read first out). */
export const COUNTER_CACHE_SIZE = 65_536;

/**
 * PENDING_RAW: a pending row as the array better-sqlite3's `.raw()` returns, in the order of
 * PENDING_COLUMNS (terminal_id is left out: the caller knows it). Arrays, not one object per row
 * keyed by column name: the read took about 40 % less time per row that way (docs/storage.md).
 */
type MessageRow = [seq: number, messageId: string, payload: string, createdAt: number, expiresAt: number, correlationId: string | null, collapseKey: string | null];
const PENDING_COLUMNS = 'seq, message_id, payload, created_at, expires_at, correlation_id, collapse_key';

/** A PcmError as plain data, so it crosses a worker boundary (structured clone drops classes). */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export function errorData(err: unknown): ErrorData {
  const e = err instanceof PcmError ? err : sqliteError(err, 'SQLite write failed');
  const out: ErrorData = { code: e.code, message: e.message };
  if (e.details) out.details = e.details;
  return out;
}

export function fromErrorData(d: ErrorData): PcmError {
  return new PcmError(d.code, d.message, d.details ? { details: d.details } : undefined);
}

export interface AppendItem {
  msg: NewMessage;
  now: number;
}

export interface AckItem {
  terminalId: string;
  seq: number;
}

/** One ack's outcome inside a group: a result, or its own PCM_ERR_INVALID_ACK. */
export type AckOutcome = { ok: AckResult } | { err: ErrorData };

/**
 * Everything one group commit writes, in this order inside ONE IMMEDIATE transaction (one
 * fsync under synchronous=FULL): acks (judged against the counters as committed before this
 * group: an ack can only name a seq the terminal already received, i.e. one committed by an
 * earlier group), then appends in call order, then counters created for state() of unknown
 * terminals, then an optional sweep.
 */
export interface WriteBatch {
  acks: AckItem[];
  appends: AppendItem[];
  creates: string[];
  sweepNow?: number;
}

export interface WriteResult {
  acks: AckOutcome[];
  appends: AppendResult[];
  creates: QueueState[];
  /** The sweep deleted a full chunk of messages or idempotency records: more may be expired. */
  sweptMore?: boolean;
}

/**
 * Most expired messages (and, separately, idempotency records) one sweep step deletes. A
 * sweep is a series of such steps, each inside an ordinary group commit, so a backlog of
 * expired rows never becomes one long transaction: on the inline writer that would hold
 * the event loop, on the thread it would hold every send behind it.
 */
export const SWEEP_CHUNK = 1000;

/**
 * An append result as it crosses the thread boundary: a fresh append only needs its seq and
 * epoch (the caller holds the message and its time and rebuilds the stored form exactly as
 * the writer did: toStoredMessage), so the payload is not cloned back; an idempotent replay
 * carries the first result in full.
 */
export type SlimAppend = { seq: number; epoch: string; collapsedSeq?: number } | { full: AppendResult };

export function slimAppend(r: AppendResult): SlimAppend {
  if (r.duplicate) return { full: r };
  const out: SlimAppend = { seq: r.message.seq, epoch: r.epoch };
  if (r.collapsedSeq !== undefined) out.collapsedSeq = r.collapsedSeq;
  return out;
}

export function expandAppend(a: SlimAppend, item: AppendItem): AppendResult {
  if ('full' in a) return a.full;
  const r: AppendResult = { message: toStoredMessage(item.msg, a.seq, item.now), epoch: a.epoch, duplicate: false };
  if (a.collapsedSeq !== undefined) r.collapsedSeq = a.collapsedSeq;
  return r;
}

/**
 * The synchronous SQLite half of the store: one better-sqlite3 connection and its prepared
 * statements. SqliteMessageStore runs one of these for writes (in a worker thread by default,
 * so an fsync never blocks the event loop) and one on the main thread for reads.
 */
export class SqliteStoreCore {
  readonly db: Database.Database;
  private readonly stmt;
  private readonly writeTx;
  private readonly sweepChunk: number;
  /**
   * COUNTER_CACHE: the counters this connection read or wrote inside its write transactions.
   * An append then writes only its row and an ack only the cursor, without reading the counter
   * (and the highest stored seq behind it) first. The copy is valid while no other connection
   * has committed to the file: `PRAGMA data_version` (which changes only for other connections'
   * commits) is read at the start of every write transaction, under its lock, and any change
   * drops the whole cache. A failed transaction (rolled back) drops it too.
   */
  private readonly counters = new Map<string, CachedCounter>();
  private readonly counterCacheSize: number;
  private dataVersion = -1;
  /**
   * ACK_SYNC: the level the connection was opened with (`synchronous`) and the level it
   * commits at now. A transaction that writes no message and no counter (acks, sweep steps)
   * commits at NORMAL: see commitLevel().
   */
  private readonly synchronous: SqliteSynchronous;
  private level: SqliteSynchronous;
  /** PENDING_LIMIT: prepared pending reads by limit (at most PENDING_STATEMENTS_MAX, oldest out). */
  private readonly pendingByLimit = new Map<number, Database.Statement<[string, number, number], MessageRow>>();

  constructor(opts: SqliteOptions & { sweepChunk?: number; counterCacheSize?: number }) {
    this.sweepChunk = Math.max(1, Math.floor(opts.sweepChunk ?? SWEEP_CHUNK) || 1); // an integer: it is written into the sweep's SQL
    this.counterCacheSize = Math.max(0, opts.counterCacheSize ?? COUNTER_CACHE_SIZE);
    this.db = openSqlite(opts);
    try {
      createSchema(this.db);
    } catch (err) {
      this.db.close();
      throw sqliteError(err, 'cannot create the SQLite message store schema');
    }
    const db = this.db;
    this.synchronous = opts.synchronous ?? 'FULL';
    this.level = this.synchronous; // as openSqlite set it
    this.stmt = {
      // last_seq as stored may lag: appends of stored messages do not write it (see LAST_SEQ)
      getCounter: db.prepare<[string, string], CounterRow>(
        'SELECT epoch, max(last_seq, coalesce((SELECT max(seq) FROM messages WHERE terminal_id = ?), 0)) AS last_seq, acked_seq FROM counters WHERE terminal_id = ?',
      ),
      getCursor: db.prepare<[string], { acked_seq: number }>('SELECT acked_seq FROM counters WHERE terminal_id = ?'),
      collapseMax: db.prepare<[string], { m: number | null }>('SELECT max(seq) AS m FROM collapse WHERE terminal_id = ?'),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      setLastSeq: db.prepare('UPDATE counters SET last_seq = ? WHERE terminal_id = ?'),
      foldLastSeq: db.prepare<[string, string]>('UPDATE counters SET last_seq = max(last_seq, coalesce((SELECT max(seq) FROM messages WHERE terminal_id = ?), 0)) WHERE terminal_id = ?'),
      foldAll: db.prepare('UPDATE counters SET last_seq = max(last_seq, coalesce((SELECT max(seq) FROM messages WHERE messages.terminal_id = counters.terminal_id), 0))'),
      insertCounter: db.prepare('INSERT INTO counters (terminal_id, epoch, last_seq, acked_seq) VALUES (?, ?, 0, 0)'),
      setCursor: db.prepare('UPDATE counters SET acked_seq = ?, last_seq = max(last_seq, ?) WHERE terminal_id = ?'),
      dropMessages: db.prepare('DELETE FROM messages WHERE terminal_id = ?'),
      dropCollapse: db.prepare('DELETE FROM collapse WHERE terminal_id = ?'),
      insertMessage: db.prepare(
        `INSERT INTO messages (terminal_id, seq, message_id, payload, created_at, expires_at, correlation_id, collapse_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      getCollapse: db.prepare<[string, string], { seq: number }>('SELECT seq FROM collapse WHERE terminal_id = ? AND collapse_key = ?'),
      setCollapse: db.prepare(
        `INSERT INTO collapse (terminal_id, collapse_key, seq) VALUES (?, ?, ?)
         ON CONFLICT (terminal_id, collapse_key) DO UPDATE SET seq = excluded.seq`,
      ),
      deleteMessage: db.prepare<[string, number], { expires_at: number }>('DELETE FROM messages WHERE terminal_id = ? AND seq = ? RETURNING expires_at'),
      deleteAcked: db.prepare('DELETE FROM messages WHERE terminal_id = ? AND seq <= ?'),
      deleteAckedCollapse: db.prepare('DELETE FROM collapse WHERE terminal_id = ? AND seq <= ?'),
      getIdem: db.prepare<[string, string, number], { result: string }>(
        'SELECT result FROM idempotency WHERE terminal_id = ? AND idem_key = ? AND expires_at > ?',
      ),
      setIdem: db.prepare(
        `INSERT INTO idempotency (terminal_id, idem_key, result, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (terminal_id, idem_key) DO UPDATE SET result = excluded.result, expires_at = excluded.expires_at`,
      ),
      countPending: db.prepare<[string, number, number], { n: number }>(
        'SELECT count(*) AS n FROM messages WHERE terminal_id = ? AND seq > ? AND expires_at > ?',
      ),
      // row values, not rowid: older files keep a WITHOUT ROWID messages table
      // the chunk written into the SQL, as the pending read's limit (PENDING_LIMIT): bound, it re-prepares at every step
      expiredMessages: db.prepare<[number], { terminal_id: string; seq: number }>(`SELECT terminal_id, seq FROM messages WHERE expires_at <= ? LIMIT ${this.sweepChunk}`),
      sweepIdem: db.prepare<[number]>(`DELETE FROM idempotency WHERE (terminal_id, idem_key) IN (SELECT terminal_id, idem_key FROM idempotency WHERE expires_at <= ? LIMIT ${this.sweepChunk})`),
    };
    const writeOne = (batch: WriteBatch): WriteResult => {
      const acks = this.ackBatchInTx(batch.acks);
      const appends = batch.appends.map((q) => this.appendInTx(q.msg, q.now));
      const creates = batch.creates.map((t) => toState(this.counter(t)));
      const out: WriteResult = { acks, appends, creates };
      if (batch.sweepNow !== undefined) {
        const chunk = this.sweepChunk;
        const messages = this.sweepMessages(batch.sweepNow);
        const idempotency = this.stmt.sweepIdem.run(batch.sweepNow).changes;
        if (messages >= chunk || idempotency >= chunk) out.sweptMore = true;
      }
      return out;
    };
    // several groups in one transaction, each written exactly as it would be alone, in order
    this.writeTx = db.transaction((batches: readonly WriteBatch[]): WriteResult[] => {
      this.checkCounterCache();
      return batches.map(writeOne);
    });
  }

  /**
   * ACK_SYNC: a transaction that carries no message and creates no counter (acks and sweep
   * steps only) commits at synchronous=NORMAL: into the WAL without waiting for the disk.
   * What it records can only be lost to an OS crash or power loss, never to a process kill
   * (the write reached the OS), and then as a whole: the WAL is replayed up to the last intact
   * commit, and the next commit at FULL (any message or counter) flushes the WAL with every
   * transaction before it, so nothing written after a lost ack survives without it. A lost
   * ack moves a cursor back: those messages are delivered again, which invariant 2.3 already
   * covers (at least once; the SDK drops them by seq). Everything a sender was answered for
   * (an append, its idempotency record, a new counter's epoch) still commits at the level the
   * store was opened with. The level is switched only when it changes.
   */
  private commitLevel(batches: readonly WriteBatch[]): void {
    let level: SqliteSynchronous = 'NORMAL';
    if (this.synchronous === 'FULL' && batches.some((b) => b.appends.length > 0 || b.creates.length > 0)) level = 'FULL';
    if (level !== this.level) this.switchLevel(level);
  }

  /**
   * Not a prepared statement: SQLite applies `PRAGMA synchronous` while compiling it, so
   * preparing one switches the level at once and running it again does nothing.
   */
  private switchLevel(level: SqliteSynchronous): void {
    this.db.exec(`PRAGMA synchronous = ${level}`);
    this.level = level;
  }

  /** Runs one group commit; throws PCM_ERR_STORE_UNAVAILABLE (nothing written) on failure. */
  write(batch: WriteBatch): WriteResult {
    return this.writeMany([batch])[0]!;
  }

  /**
   * Runs several groups (queued one after another) as ONE transaction and one fsync, each
   * group judged and written in order as if committed alone. All or nothing: on failure
   * every group fails with PCM_ERR_STORE_UNAVAILABLE and none of them is visible.
   */
  writeMany(batches: readonly WriteBatch[]): WriteResult[] {
    try {
      this.commitLevel(batches);
      // .immediate: take the write lock up front, so a second process cannot interleave.
      return this.writeTx.immediate(batches);
    } catch (err) {
      // rolled back: the cached counters may hold values that were never committed
      this.dropCounterCache();
      throw sqliteError(err, 'SQLite write failed');
    }
  }

  pending(terminalId: string, query: PendingQuery): StoredMessage[] {
    if (!(query.limit >= 1)) return []; // LIMIT 0 (or NaN) reads nothing, as it did as a bound parameter
    const cursor = this.stmt.getCursor.get(terminalId)?.acked_seq ?? 0;
    // one lower bound, the higher of the two: given both, SQLite seeks to one and steps over
    // every row up to the other (a drain's window of them)
    const rows = this.pendingStatement(query.limit).all(terminalId, Math.max(cursor, query.afterSeq ?? 0), query.now);
    const out = new Array<StoredMessage>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = fromRow(terminalId, rows[i]!);
    return out;
  }

  /**
   * PENDING_LIMIT: the pending read with its LIMIT written into the SQL, one prepared statement
   * per limit (a drain asks for the free window, 1 to `window`). Bound as a parameter, the
   * LIMIT made SQLite (3.53, as better-sqlite3 12 builds it) re-prepare the statement at every
   * execution, since the plan may depend on it: about three times the cost of the read itself
   * (docs/storage.md).
   */
  private pendingStatement(asked: number): Database.Statement<[string, number, number], MessageRow> {
    let st = this.pendingByLimit.get(asked);
    if (st) return st;
    // only ever a positive integer in the SQL text
    const limit = Math.max(1, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(asked)));
    if (limit !== asked) return this.pendingStatement(limit);
    if (this.pendingByLimit.size >= PENDING_STATEMENTS_MAX) this.pendingByLimit.delete(this.pendingByLimit.keys().next().value!);
    st = this.db
      .prepare<[string, number, number], MessageRow>(
        `SELECT ${PENDING_COLUMNS} FROM messages WHERE terminal_id = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ${limit}`,
      )
      .raw(true) as unknown as Database.Statement<[string, number, number], MessageRow>;
    this.pendingByLimit.set(limit, st);
    return st;
  }

  /** The committed state, or undefined when the terminal has no counter yet (a write creates it). */
  readState(terminalId: string): QueueState | undefined {
    const c = this.stmt.getCounter.get(terminalId, terminalId);
    return c ? toState(c) : undefined;
  }

  findIdempotent(terminalId: string, idempotencyKey: string, now: number): AppendResult | undefined {
    const prior = this.stmt.getIdem.get(terminalId, idempotencyKey, now);
    return prior ? { ...(JSON.parse(prior.result) as AppendResult), duplicate: true } : undefined;
  }

  countPending(terminalId: string, now: number): number {
    const cursor = this.stmt.getCursor.get(terminalId)?.acked_seq ?? 0;
    return this.stmt.countPending.get(terminalId, cursor, now)!.n;
  }

  ping(): void {
    this.db.prepare('SELECT 1').get();
  }

  close(): void {
    this.db.close();
  }

  /**
   * Writes every terminal's last seq into its counter row (LAST_SEQ), so the file reads the
   * same to a version of PCM that trusts counters.last_seq alone. Run by the writer at a
   * clean close; one index seek per terminal.
   */
  foldAllLastSeqs(busyTimeoutMs = FOLD_BUSY_TIMEOUT_MS): void {
    if (this.level !== this.synchronous) this.switchLevel(this.synchronous); // as every counter write
    // The fold is a courtesy (LAST_SEQ): another process's write lock must not hold a close for
    // the connection's whole busy timeout. It gives up after busyTimeoutMs (and throws SQLITE_BUSY).
    const was = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    try {
      this.stmt.foldAll.run();
    } finally {
      this.db.pragma(`busy_timeout = ${was}`);
    }
  }

  /**
   * One sweep step: deletes at most `sweepChunk` expired messages, after folding each affected
   * terminal's last seq into its counter (the expired rows may be the ones that carry it).
   */
  private sweepMessages(now: number): number {
    const rows = this.stmt.expiredMessages.all(now);
    const terminals = new Set<string>();
    for (const r of rows) terminals.add(r.terminal_id);
    for (const t of terminals) this.stmt.foldLastSeq.run(t, t);
    for (const r of rows) this.stmt.deleteMessage.run(r.terminal_id, r.seq);
    return rows.length;
  }

  private appendInTx(msg: NewMessage, now: number): AppendResult {
    const s = this.stmt;
    if (msg.idempotencyKey !== undefined) {
      const prior = s.getIdem.get(msg.terminalId, msg.idempotencyKey, now);
      if (prior) return { ...(JSON.parse(prior.result) as AppendResult), duplicate: true };
    }
    const c = this.counter(msg.terminalId);
    const message = toStoredMessage(msg, c.last_seq + 1, now);
    c.last_seq = message.seq; // the cached copy (COUNTER_CACHE); the row or the counter below carries it
    // The stored row carries the new last seq (LAST_SEQ); ttl 0 = deliver now or drop
    // (invariant 2.4): it takes a seq but is never stored as pending, so it moves the counter.
    if (msg.ttlSeconds > 0) {
      s.insertMessage.run(message.terminalId, message.seq, message.messageId, message.payload, message.createdAt, message.expiresAt, message.correlationId ?? null, message.collapseKey ?? null);
    } else {
      s.setLastSeq.run(message.seq, msg.terminalId);
    }
    let collapsedSeq: number | undefined;
    if (msg.collapseKey !== undefined) {
      const older = s.getCollapse.get(msg.terminalId, msg.collapseKey)?.seq;
      s.setCollapse.run(msg.terminalId, msg.collapseKey, message.seq);
      c.collapse_max = message.seq; // the newest seq: now the highest any collapse row carries
      // Only an undelivered (unacked) older message is replaced (invariant 2.5); one already
      // expired is removed too, but it was not pending any more, so no collapse is reported.
      if (older !== undefined && older > c.acked_seq) {
        const removed = s.deleteMessage.get(msg.terminalId, older);
        if (removed && removed.expires_at > now) collapsedSeq = older;
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
  private ackBatchInTx(batch: readonly AckItem[]): AckOutcome[] {
    const cursors = new Map<string, { lastSeq: number; exists: boolean; stored: number; acked: number; row: CachedCounter | undefined }>();
    const outcomes = batch.map(({ terminalId, seq }): AckOutcome => {
      let c = cursors.get(terminalId);
      if (!c) {
        const row = this.existingCounter(terminalId);
        c = { lastSeq: row?.last_seq ?? 0, exists: row !== undefined, stored: row?.acked_seq ?? 0, acked: row?.acked_seq ?? 0, row };
        cursors.set(terminalId, c);
      }
      if (seq > c.lastSeq) return { err: errorData(ackBeyondLastSeq(terminalId, seq, c.lastSeq)) };
      if (!c.exists || seq <= c.acked) return { ok: { lastAckedSeq: c.acked, advanced: false } };
      c.acked = seq;
      return { ok: { lastAckedSeq: seq, advanced: true } };
    });
    for (const [terminalId, c] of cursors) {
      if (c.acked <= c.stored) continue;
      // fold the last seq in first: the delete may remove the rows that carry it (LAST_SEQ)
      this.stmt.setCursor.run(c.acked, c.lastSeq, terminalId);
      this.stmt.deleteAcked.run(terminalId, c.acked);
      const row = c.row!; // exists: only a counter that exists can advance
      row.acked_seq = c.acked;
      if (row.collapse_max === COLLAPSE_UNKNOWN) row.collapse_max = this.stmt.collapseMax.get(terminalId)?.m ?? 0;
      // no collapse row left at or below the new cursor, so nothing to delete (COUNTER_CACHE)
      if (row.collapse_max > 0) {
        this.stmt.deleteAckedCollapse.run(terminalId, c.acked);
        if (row.collapse_max <= c.acked) row.collapse_max = 0;
      }
    }
    return outcomes;
  }

  /**
   * The terminal's counter row, created with a fresh random epoch if missing. A missing row
   * with leftover messages means the counter was lost: those rows belong to the old epoch
   * and would collide with the new seqs, so they are abandoned.
   */
  private counter(terminalId: string): CachedCounter {
    const row = this.existingCounter(terminalId);
    if (row) return row;
    this.stmt.dropMessages.run(terminalId);
    this.stmt.dropCollapse.run(terminalId);
    const epoch = newEpoch();
    this.stmt.insertCounter.run(terminalId, epoch);
    return this.cacheCounter(terminalId, { epoch, last_seq: 0, acked_seq: 0, collapse_max: 0 });
  }

  /** The terminal's counter inside a write transaction: the cached copy, else read (and cached). */
  private existingCounter(terminalId: string): CachedCounter | undefined {
    const cached = this.counters.get(terminalId);
    if (cached) return cached;
    const row = this.stmt.getCounter.get(terminalId, terminalId);
    if (!row) return undefined;
    return this.cacheCounter(terminalId, { ...row, collapse_max: COLLAPSE_UNKNOWN });
  }

  private cacheCounter(terminalId: string, row: CachedCounter): CachedCounter {
    if (this.counterCacheSize === 0) return row;
    if (this.counters.size >= this.counterCacheSize) this.counters.delete(this.counters.keys().next().value!);
    this.counters.set(terminalId, row);
    return row;
  }

  /** Start of a write transaction (lock held): another connection's commit invalidates every copy. */
  private checkCounterCache(): void {
    const v = this.stmt.dataVersion.get()!;
    if (v !== this.dataVersion) {
      this.counters.clear();
      this.dataVersion = v;
    }
  }

  private dropCounterCache(): void {
    this.counters.clear();
    this.dataVersion = -1;
  }

}

function toState(c: CounterRow): QueueState {
  return { epoch: c.epoch, lastSeq: c.last_seq, lastAckedSeq: c.acked_seq };
}


function fromRow(terminalId: string, r: MessageRow): StoredMessage {
  const m: StoredMessage = { terminalId, seq: r[0], messageId: r[1], payload: r[2], createdAt: r[3], expiresAt: r[4] };
  if (r[5] !== null) m.correlationId = r[5];
  if (r[6] !== null) m.collapseKey = r[6];
  return m;
}
