import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { systemClock, type Clock } from '../../../common/clock.js';
import { PcmError } from '../../../common/errors.js';
import type { AckResult, AppendResult, MessageStore, NewMessage, PendingQuery, QueueState, StoredMessage } from '../../ports/message-store.js';
import { checkAckSeq, checkNewMessage } from '../store-shared.js';
import { SqliteStoreCore, expandAppend, fromErrorData, type SlimAppend, type WriteBatch, type WriteResult } from './sqlite-core.js';
import { sqliteError, type SqliteOptions } from './sqlite-open.js';

interface Waiter<T> {
  resolve: (r: T) => void;
  reject: (err: unknown) => void;
}
type QueuedAppend = Waiter<AppendResult> & { msg: NewMessage; now: number };
type QueuedAck = Waiter<AckResult> & { terminalId: string; seq: number };
type QueuedCreate = Waiter<QueueState> & { terminalId: string };
type QueuedSweep = Waiter<void> & { now: number };

export interface SqliteMessageStoreOptions extends SqliteOptions {
  /** Most appends (and most acks) committed in one transaction (group commit); default 1024. */
  maxBatch?: number;
  /** How often expired messages and idempotency records are deleted (ms); 0 disables. */
  sweepIntervalMs?: number;
  /** Most rows one sweep step deletes per table (default SWEEP_CHUNK); a sweep takes as many steps as it needs. */
  sweepChunk?: number;
  /** Time source of the periodic sweep (the gateway's clock). Default: the system clock. */
  clock?: Clock;
  /**
   * Run the write connection in a worker thread (default: yes, unless the file is ':memory:').
   * Then a commit's fsync (synchronous=FULL) never blocks the event loop: sends, pushes and
   * acks keep flowing while one group commit is on disk, and everything that arrives
   * meanwhile goes into the next one. `false` writes on the calling thread: no thread
   * hand-off and no structured clone per group, the better choice when the disk flushes
   * fast. The gateway decides with PCM_SQLITE_WRITER (sqlite-writer-choice.ts).
   */
  writerThread?: boolean;
  /**
   * With `writerThread: false`: watch the inline commits and move the writes to the writer
   * thread, for good, once they kept the event loop asleep for `asleepShare` of a whole
   * window's wall time (a disk that became slow after the start-up probe, another process
   * holding the file's lock). PCM_SQLITE_WRITER=auto sets it; an explicit `inline` does not.
   */
  inlineFallback?: InlineFallback;
  /**
   * Group commits posted to the writer before the first of them answered (default 4). A group
   * formed while earlier ones are on disk is posted at once and written right after them (the
   * writer thread merges queued groups into one transaction), so a send waits for the rest of
   * the current commit plus its own, not for a full round trip more. 1 = one commit at a time.
   */
  maxInFlight?: number;
}

/** How a group commit reaches the write connection: on this thread or in the writer thread. */
interface Writer {
  write(batch: WriteBatch): Promise<WriteResult>;
  close(): Promise<void>;
}

/**
 * A store with `inlineFallback` moves its commits to the writer thread once inline commits
 * kept the event loop asleep (waiting for the disk's flush or another process's lock) for at
 * least this share of the wall time over a whole window. It measures the harm itself, whatever
 * the commits' size: a fast disk's flushes and checkpoints cost a few percent, a slow disk or a
 * lock held by another process most of the time.
 */
export const INLINE_FALLBACK_ASLEEP_SHARE = 0.25;
/** The window (ms): a single long stall does not fill a quarter of it. */
export const INLINE_FALLBACK_WINDOW_MS = 5_000;
/** Fewest commits a window needs before it can decide. */
const INLINE_FALLBACK_MIN_COMMITS = 16;

/** `inlineFallback`: when inline commits keep the event loop asleep, switch to the thread. */
export interface InlineFallback {
  /** Share of wall time asleep inside commits that triggers the switch (default INLINE_FALLBACK_ASLEEP_SHARE). */
  asleepShare?: number;
  /** Window the share is measured over (ms, default INLINE_FALLBACK_WINDOW_MS). */
  windowMs?: number;
  /** Called once, when the store switched (the gateway logs it). */
  onSwitch?: (e: FallbackSwitch) => void;
}

export interface FallbackSwitch {
  /** Share of the window's wall time the commits slept (0..1). */
  asleepShare: number;
  /** Commits in that window, and their mean time asleep (ms). */
  commits: number;
  meanAsleepMs: number;
}

/**
 * A clock of the time the calling thread did not sleep, in ms: the process's CPU time
 * (getrusage: exact up to the call, where a thread's own schedstat run time lags by up to a
 * scheduler tick) plus the thread's run-queue wait from /proc/thread-self/schedstat (accounted
 * when the thread gets a CPU again, so complete by the time it reads it). Wall time minus
 * this is time asleep: an fsync, another process's lock. The process's CPU time includes other
 * threads' (the garbage collector's helpers), which can only make a commit look shorter asleep.
 * Without that file (not Linux), waiting for a CPU counts as asleep.
 */
function awakeClock(): { read: () => number; close: () => void } {
  const cpuMs = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  try {
    const fd = openSync('/proc/thread-self/schedstat', 'r');
    const buf = Buffer.alloc(96);
    const waitMs = () => {
      const s = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
      const a = s.indexOf(' ');
      const w = Number(s.slice(a + 1, s.indexOf(' ', a + 1))) / 1e6;
      if (!Number.isFinite(w)) throw new Error(`unexpected schedstat: ${s}`);
      return w;
    };
    waitMs(); // the format is what we expect, or we fall back now
    return { read: () => cpuMs() + waitMs(), close: () => closeSync(fd) };
  } catch {
    return { read: cpuMs, close: () => undefined };
  }
}

class InlineWriter implements Writer {
  private windowStart = 0;
  private asleepMs = 0;
  private commits = 0;

  /** `watch` (optional): measure each commit's time asleep and call `onSlow` once a window crosses `asleepShare`. */
  constructor(
    private readonly core: SqliteStoreCore,
    private readonly watch?: { asleepShare: number; windowMs: number; onSlow: (e: FallbackSwitch) => void },
  ) {}

  async write(batch: WriteBatch): Promise<WriteResult> {
    if (!this.watch) return this.core.write(batch);
    // Time asleep: the fsync and any wait for another process's lock. Not the SQL work (a big
    // group is long but on the CPU, which the thread would not make cheaper), and not time
    // spent waiting for a CPU on a saturated machine (the thread would wait for one too).
    const awake = (this.awake ??= awakeClock());
    const t0 = performance.now();
    const s0 = awake.read();
    try {
      return this.core.write(batch);
    } finally {
      const t1 = performance.now();
      this.record(t0, t1, t1 - t0 - (awake.read() - s0));
    }
  }

  /** Time not asleep (awakeClock), opened at the first watched commit. */
  private awake?: ReturnType<typeof awakeClock>;

  private record(start: number, end: number, asleepMs: number): void {
    if (this.windowStart === 0) this.windowStart = start;
    this.asleepMs += asleepMs; // summed raw: a commit's reading is noisy by a little, either way
    this.commits++;
    const elapsed = end - this.windowStart;
    if (elapsed < this.watch!.windowMs) return;
    const asleep = Math.max(0, this.asleepMs);
    const e: FallbackSwitch = { asleepShare: asleep / elapsed, commits: this.commits, meanAsleepMs: asleep / this.commits };
    this.windowStart = end;
    this.asleepMs = 0;
    this.commits = 0;
    if (e.commits >= INLINE_FALLBACK_MIN_COMMITS && e.asleepShare >= this.watch!.asleepShare) this.watch!.onSlow(e);
  }

  async close(): Promise<void> {
    /* the core is the store's own read connection; the store closes it */
    this.awake?.close();
    this.awake = undefined;
  }
}

/**
 * The writer thread (sqlite-writer-thread.ts). Groups are posted as soon as they are formed,
 * without waiting for the commit before them: the thread writes them in order and merges
 * whatever queued up meanwhile into one transaction. If the thread dies, the commits it held
 * fail with PCM_ERR_STORE_UNAVAILABLE (nothing was acknowledged for them) and the next write
 * starts a new thread. The thread keeps the process alive only while a commit is in flight.
 */
class ThreadWriter implements Writer {
  private worker?: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter<WriteResult>>();

  constructor(private readonly opts: SqliteOptions & { sweepChunk?: number }) {
    this.spawn(); // now, not at the first send: starting the thread takes a few hundred ms
  }

  async write(batch: WriteBatch): Promise<WriteResult> {
    const w = this.worker ?? this.spawn();
    const id = this.nextId++;
    const r = await new Promise<WriteResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ id, batch });
    });
    // the thread sends fresh appends back slim (seq + epoch): rebuild them from the batch
    const slim = r.appends as unknown as SlimAppend[];
    return { ...r, appends: slim.map((a, i) => expandAppend(a, batch.appends[i]!)) };
  }

  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.ref();
    w.postMessage({ close: true });
    await exited;
  }

  private spawn(): Worker {
    const { file, synchronous, busyTimeoutMs, sweepChunk } = this.opts;
    const w = new Worker(new URL('./sqlite-writer-thread.mjs', import.meta.url), { workerData: { file, synchronous, busyTimeoutMs, sweepChunk } });
    this.worker = w;
    w.unref();
    type Done = { id: number; ok?: WriteResult; err?: Parameters<typeof fromErrorData>[0] };
    w.on('message', (m: { done?: Done[]; fatal?: Parameters<typeof fromErrorData>[0] }) => {
      if (m.fatal) return this.failAll(w, fromErrorData(m.fatal));
      if (!m.done) return;
      for (const d of m.done) {
        const waiter = this.waiting.get(d.id);
        this.waiting.delete(d.id);
        if (!waiter) continue;
        if (d.err) waiter.reject(fromErrorData(d.err));
        else waiter.resolve(d.ok!);
      }
      if (this.waiting.size === 0) w.unref();
    });
    w.on('error', (err) => this.failAll(w, sqliteError(err, 'SQLite writer thread failed')));
    w.on('exit', (code) => this.failAll(w, new PcmError('PCM_ERR_STORE_UNAVAILABLE', `SQLite writer thread exited (code ${code})`)));
    return w;
  }

  private failAll(w: Worker, err: PcmError): void {
    if (this.worker === w) this.worker = undefined;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiter of waiting) waiter.reject(err);
  }
}

/**
 * The embedded default store (`pcm dev`): the KV model of DESIGN.md section 4 in one SQLite
 * file (WAL). Writes are group commits (see flush()) on a write connection that lives in a
 * worker thread by default; reads (pending, state, countPending) run on this thread's own
 * connection and see every commit that has resolved. BEGIN IMMEDIATE plus busy_timeout
 * serializes writers across processes sharing the file.
 */
export class SqliteMessageStore implements MessageStore {
  readonly kind = 'sqlite';
  /** Where the group commits run: 'thread' (writer thread) or 'inline' (the caller's thread). */
  get writerKind(): 'inline' | 'thread' {
    return this.writer instanceof ThreadWriter ? 'thread' : 'inline';
  }
  private readonly reader: SqliteStoreCore;
  private writer: Writer;
  private readonly maxBatch: number;
  private readonly sweepTimer?: NodeJS.Timeout;
  private readonly maxInFlight: number;
  private appends: QueuedAppend[] = [];
  private acks: QueuedAck[] = [];
  private creates: QueuedCreate[] = [];
  private sweeps: QueuedSweep[] = [];
  /** Group commits posted to the writer and not answered yet. */
  private readonly inFlight = new Set<Promise<void>>();
  private scheduled = false;
  private closed = false;

  constructor(opts: SqliteMessageStoreOptions) {
    // Opening here (and creating the schema) makes a bad path or a corrupt file fail at start.
    this.reader = new SqliteStoreCore(opts);
    const threaded = opts.writerThread ?? opts.file !== ':memory:';
    const fb = opts.inlineFallback;
    const watch =
      fb && opts.file !== ':memory:' // a :memory: database exists only on this connection
        ? {
            asleepShare: fb.asleepShare ?? INLINE_FALLBACK_ASLEEP_SHARE,
            windowMs: fb.windowMs ?? INLINE_FALLBACK_WINDOW_MS,
            onSlow: (e: FallbackSwitch) => {
              // Inline commits are synchronous: none is in flight, the next group goes to the thread.
              if (this.closed || this.writer instanceof ThreadWriter) return;
              void this.writer.close();
              this.writer = new ThreadWriter(opts);
              fb.onSwitch?.(e);
            },
          }
        : undefined;
    this.writer = threaded ? new ThreadWriter(opts) : new InlineWriter(this.reader, watch);
    this.maxBatch = opts.maxBatch ?? 1024;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 4);
    const sweepMs = opts.sweepIntervalMs ?? 60_000;
    if (sweepMs > 0) {
      const clock = opts.clock ?? systemClock;
      this.sweepTimer = setInterval(() => void this.sweep(clock.now()).catch(() => undefined), sweepMs);
      this.sweepTimer.unref();
    }
  }

  /**
   * Group commit: the appends, acks and counter creations of one event-loop turn form a
   * group; the writer thread writes every group that queued up while its last commit was on
   * disk in ONE transaction, and each promise resolves only after that transaction
   * committed (and, with synchronous=FULL, was fsynced): durable before 202 (invariant 2.1),
   * one fsync shared by every concurrent sender. Seqs follow call order. If the transaction
   * fails, everything in it fails with PCM_ERR_STORE_UNAVAILABLE and none of it is visible.
   */
  append(msg: NewMessage, now: number): Promise<AppendResult> {
    // not async: an async wrapper would add a second promise per message on the hot path
    try {
      checkNewMessage(msg);
      this.assertOpen('append');
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.appends.push({ msg, now, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Acks share the group commit with appends: each promise resolves only after the cursor
   * move committed (invariant 2.2). Within a group each ack is judged in call order against
   * the cursor as left by the acks before it; only the highest cursor per terminal is
   * written. An ack beyond lastSeq fails alone with PCM_ERR_INVALID_ACK and changes nothing.
   */
  ack(terminalId: string, seq: number): Promise<AckResult> {
    try {
      checkAckSeq(terminalId, seq);
      this.assertOpen('ack');
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AckResult>((resolve, reject) => {
      this.acks.push({ terminalId, seq, resolve, reject });
      this.schedule();
    });
  }

  async pending(terminalId: string, query: PendingQuery): Promise<StoredMessage[]> {
    if (query.limit <= 0) return [];
    return this.read('pending', () => this.reader.pending(terminalId, query));
  }

  async state(terminalId: string): Promise<QueueState> {
    // Called on every connect: a plain read when the counter exists; a write (in the next
    // group commit) only to create a missing counter with a new epoch.
    const s = this.read('state', () => this.reader.readState(terminalId));
    if (s) return s;
    return new Promise<QueueState>((resolve, reject) => {
      this.creates.push({ terminalId, resolve, reject });
      this.schedule();
    });
  }

  async findIdempotent(terminalId: string, idempotencyKey: string, now: number): Promise<AppendResult | undefined> {
    return this.read('findIdempotent', () => this.reader.findIdempotent(terminalId, idempotencyKey, now));
  }

  async countPending(terminalId: string, now: number): Promise<number> {
    return this.read('countPending', () => this.reader.countPending(terminalId, now));
  }

  async ping(): Promise<void> {
    this.read('ping', () => this.reader.ping());
  }

  /** Deletes expired messages and idempotency records (pending() already ignores them). */
  sweep(now: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.sweeps.push({ now, resolve, reject });
      this.schedule();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    // appends and acks already accepted into the queue are committed, not dropped
    while (this.inFlight.size > 0 || this.queued()) {
      this.flush();
      await Promise.race(this.inFlight);
    }
    await this.writer.close();
    try {
      // LAST_SEQ (sqlite-core.ts): leave every counter exact, for earlier versions of PCM
      this.reader.foldAllLastSeqs();
    } catch {
      /* another process holds the write lock: its own close, or this one's next, folds */
    }
    this.reader.close();
  }

  private queued(): boolean {
    return this.appends.length + this.acks.length + this.creates.length + this.sweeps.length > 0;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight.size >= this.maxInFlight) return;
    this.scheduled = true;
    // collect what arrives in this event-loop turn, then commit it together
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Posts what is queued as group commits, up to maxInFlight unanswered ones. */
  private flush(): void {
    while (this.queued() && this.inFlight.size < this.maxInFlight) {
      const commit: Promise<void> = this.commit().finally(() => {
        this.inFlight.delete(commit);
        if (this.queued()) this.schedule();
      });
      this.inFlight.add(commit);
    }
  }

  /** One group: everything queued (up to maxBatch appends and acks), resolved when it committed. */
  private async commit(): Promise<void> {
    const appends = this.appends.splice(0, this.maxBatch);
    const acks = this.acks.splice(0, this.maxBatch);
    const creates = this.creates.splice(0);
    const sweeps = this.sweeps.splice(0);
    const batch: WriteBatch = {
      appends: appends.map((q) => ({ msg: q.msg, now: q.now })),
      acks: acks.map((q) => ({ terminalId: q.terminalId, seq: q.seq })),
      creates: creates.map((q) => q.terminalId),
    };
    if (sweeps.length > 0) batch.sweepNow = Math.max(...sweeps.map((s) => s.now));
    let result: WriteResult;
    try {
      result = await this.writer.write(batch);
    } catch (err) {
      const e = sqliteError(err, 'SQLite write failed');
      for (const q of [...appends, ...acks, ...creates, ...sweeps]) q.reject(e);
      return;
    }
    appends.forEach((q, i) => q.resolve(result.appends[i]!));
    acks.forEach((q, i) => {
      const o = result.acks[i]!;
      if ('ok' in o) q.resolve(o.ok);
      else q.reject(fromErrorData(o.err));
    });
    creates.forEach((q, i) => q.resolve(result.creates[i]!));
    if (result.sweptMore && sweeps.length > 0) {
      // a full chunk was deleted: the next step goes into a later group (the sweep resolves at the end)
      this.sweeps.push(...sweeps);
      this.schedule();
    } else for (const q of sweeps) q.resolve();
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `SQLite message store is closed (${what})`);
  }

  private read<T>(what: string, fn: () => T): T {
    this.assertOpen(what);
    try {
      return fn();
    } catch (err) {
      throw sqliteError(err, `SQLite ${what} failed`);
    }
  }
}
