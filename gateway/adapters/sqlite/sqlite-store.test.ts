import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPcmError } from '../../../common/errors.js';
import { IDEMPOTENCY_MIN_SECONDS } from '../store-shared.js';
import { SqliteStoreCore } from './sqlite-core.js';
import { SqliteMessageStore } from './sqlite-store.js';

const worker = fileURLToPath(new URL('./sqlite-append-worker.ts', import.meta.url));

function startWorker(file: string, terminal: string, label: string, count: number, extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', worker], {
    env: { ...process.env, PCM_WORKER_FILE: file, PCM_WORKER_TERMINAL: terminal, PCM_WORKER_LABEL: label, PCM_WORKER_COUNT: String(count), ...extraEnv },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

describe('SqliteMessageStore beyond the contract', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-sqlite-extra-'));
    file = path.join(dir, 'store.db');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('every append that resolved survives kill -9 of the writing process', async () => {
    const w = startWorker(file, 't1', 'k', 5_000);
    const stored: string[] = [];
    for await (const line of w.lines) {
      stored.push(line.split(' ')[2]!);
      if (stored.length === 300) {
        w.child.kill('SIGKILL'); // mid-run, between or during appends
        break;
      }
    }
    await w.exited;
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    try {
      const pend = await store.pending('t1', { limit: 10_000, now: Date.now() });
      const ids = pend.map((m) => m.messageId);
      expect(ids.slice(0, stored.length)).toEqual(stored);
      expect(pend.map((m) => m.seq)).toEqual(pend.map((_, i) => i + 1));
      expect(ids.length).toBeLessThan(5_000); // it really was killed mid-run
    } finally {
      await store.close();
    }
  }, 60_000);

  it('ACK_SYNC: every ack that resolved survives kill -9 of the writing process, as every append', async () => {
    const w = startWorker(file, 't1', 'a', 5_000, { PCM_WORKER_ACK: '1' });
    let stored = 0;
    let acked = 0;
    for await (const line of w.lines) {
      const [what, seq] = line.split(' ');
      if (what === 'stored') stored = Number(seq);
      else acked = Number(seq);
      if (acked === 300) {
        w.child.kill('SIGKILL');
        break;
      }
    }
    await w.exited;
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    try {
      const state = await store.state('t1');
      expect(state.lastAckedSeq).toBeGreaterThanOrEqual(acked);
      expect(state.lastSeq).toBeGreaterThanOrEqual(stored);
      expect(state.lastSeq).toBeLessThan(5_000); // it really was killed mid-run
      const pend = await store.pending('t1', { limit: 10_000, now: Date.now() });
      expect(pend.every((m) => m.seq > state.lastAckedSeq)).toBe(true);
    } finally {
      await store.close();
    }
  }, 60_000);

  it('ACK_SYNC: a transaction of acks and sweep steps only commits at NORMAL; any append or new counter at the level the store was opened with', () => {
    const now = Date.now();
    const append = (terminalId: string, id: string) => ({ msg: { terminalId, payload: '{}', ttlSeconds: 600, messageId: id }, now });
    const full = new SqliteStoreCore({ file, synchronous: 'FULL' });
    const level = () => full.db.pragma('synchronous', { simple: true }); // 2 FULL, 1 NORMAL
    try {
      expect(level()).toBe(2);
      full.write({ appends: [append('t1', 'a'), append('t1', 'b')], acks: [], creates: [] });
      expect(level()).toBe(2);
      const acked = full.write({ appends: [], acks: [{ terminalId: 't1', seq: 1 }], creates: [] });
      expect(acked.acks[0]).toEqual({ ok: expect.objectContaining({ advanced: true }) });
      expect(level()).toBe(1);
      full.write({ appends: [], acks: [], creates: [], sweepNow: now });
      expect(level()).toBe(1);
      full.write({ appends: [], acks: [], creates: ['t2'] });
      expect(level()).toBe(2);
      full.write({ appends: [], acks: [{ terminalId: 't1', seq: 2 }], creates: [] });
      expect(level()).toBe(1);
      // groups merged into one transaction: one of them carries a message, so the whole commit waits for the disk
      full.writeMany([{ appends: [], acks: [], creates: [], sweepNow: now }, { appends: [append('t1', 'c')], acks: [], creates: [] }]);
      expect(level()).toBe(2);
      full.write({ appends: [], acks: [{ terminalId: 't1', seq: 3 }], creates: [] });
      full.foldAllLastSeqs(); // a counter write at close: at the store's level
      expect(level()).toBe(2);
      // the acks committed: another connection reads the cursor they moved
      const reader = new SqliteStoreCore({ file, synchronous: 'FULL' });
      try {
        expect(reader.readState('t1')).toMatchObject({ lastSeq: 3, lastAckedSeq: 3 });
      } finally {
        reader.close();
      }
    } finally {
      full.close();
    }
    const normal = new SqliteStoreCore({ file, synchronous: 'NORMAL' });
    try {
      normal.write({ appends: [append('t3', 'd')], acks: [], creates: ['t4'] });
      expect(normal.db.pragma('synchronous', { simple: true })).toBe(1);
    } finally {
      normal.close();
    }
  });

  it('two processes appending to one file never share a seq', async () => {
    const a = startWorker(file, 't2', 'A', 150);
    const b = startWorker(file, 't2', 'B', 150);
    const seqs: number[] = [];
    const collect = async (w: ReturnType<typeof startWorker>) => {
      for await (const line of w.lines) seqs.push(Number(line.split(' ')[1]));
      expect(await w.exited).toBe(0);
    };
    await Promise.all([collect(a), collect(b)]);
    expect(seqs.sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  }, 60_000);

  it('a locked database gives PCM_ERR_STORE_UNAVAILABLE, changes nothing, and recovers', async () => {
    const store = new SqliteMessageStore({ file, busyTimeoutMs: 50, sweepIntervalMs: 0 });
    try {
      await store.append({ terminalId: 't3', payload: '{}', ttlSeconds: 60, messageId: 'a' }, Date.now());
      const other = new Database(file);
      other.exec('BEGIN EXCLUSIVE');
      const err = await store.append({ terminalId: 't3', payload: '{}', ttlSeconds: 60, messageId: 'b' }, Date.now()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isPcmError(err, 'PCM_ERR_STORE_UNAVAILABLE')).toBe(true);
      // a group commit of concurrent appends fails as a whole: every sender gets 503
      const batch = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.append({ terminalId: 't3', payload: '{}', ttlSeconds: 60, messageId: `g${i}` }, Date.now())),
      );
      expect(batch.every((r) => r.status === 'rejected' && isPcmError(r.reason, 'PCM_ERR_STORE_UNAVAILABLE'))).toBe(true);
      other.exec('ROLLBACK');
      other.close();
      expect(await store.state('t3')).toMatchObject({ lastSeq: 1 });
      const r = await store.append({ terminalId: 't3', payload: '{}', ttlSeconds: 60, messageId: 'c' }, Date.now());
      expect(r.message.seq).toBe(2);
      expect((await store.pending('t3', { limit: 10, now: Date.now() })).map((m) => m.messageId)).toEqual(['a', 'c']);
    } finally {
      await store.close();
    }
  });

  it('group commit: concurrent appends share a transaction, keep call order, each resolves after commit', async () => {
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0, maxBatch: 7 });
    try {
      const rs = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          store.append({ terminalId: 't5', payload: `{"i":${i}}`, ttlSeconds: 60, messageId: `m${i}`, idempotencyKey: `k${i % 25}` }, Date.now()),
        ),
      );
      // call order = seq order; the 5 repeated keys inside the same batch window are duplicates
      expect(rs.slice(0, 25).map((r) => r.message.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
      expect(rs.slice(25).every((r, i) => r.duplicate && r.message.seq === i + 1)).toBe(true);
      // committed: visible to another connection as soon as the promises resolved
      const db = new Database(file, { readonly: true });
      const n = (db.prepare('SELECT count(*) AS n FROM messages WHERE terminal_id = ?').get('t5') as { n: number }).n;
      db.close();
      expect(n).toBe(25);
    } finally {
      await store.close();
    }
  });

  it('group commit of acks: call order, per-ack INVALID_ACK, stale acks, highest cursor committed before resolve', async () => {
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    try {
      const now = Date.now();
      for (let i = 1; i <= 6; i++) await store.append({ terminalId: 'a1', payload: '{}', ttlSeconds: 60, messageId: `a${i}`, collapseKey: i === 2 ? 'c' : undefined }, now);
      for (let i = 1; i <= 2; i++) await store.append({ terminalId: 'a2', payload: '{}', ttlSeconds: 60, messageId: `b${i}` }, now);
      // all in one event-loop turn: one transaction
      const rs = await Promise.allSettled([
        store.ack('a1', 3),
        store.ack('a1', 2), // stale within the group
        store.ack('a1', 99), // beyond lastSeq: fails alone
        store.ack('a2', 2),
        store.ack('a1', 5),
        store.ack('nobody', 0),
      ]);
      const values = rs.map((r) => (r.status === 'fulfilled' ? r.value : r.reason));
      expect(values[0]).toEqual({ lastAckedSeq: 3, advanced: true });
      expect(values[1]).toEqual({ lastAckedSeq: 3, advanced: false });
      expect(isPcmError(values[2], 'PCM_ERR_INVALID_ACK')).toBe(true);
      expect(values[3]).toEqual({ lastAckedSeq: 2, advanced: true });
      expect(values[4]).toEqual({ lastAckedSeq: 5, advanced: true });
      expect(values[5]).toEqual({ lastAckedSeq: 0, advanced: false });
      // committed and visible to another connection as soon as the promises resolved
      const db = new Database(file, { readonly: true });
      const cursors = db.prepare('SELECT terminal_id, acked_seq FROM counters ORDER BY terminal_id').all();
      const left = db.prepare("SELECT message_id FROM messages WHERE terminal_id = 'a1' ORDER BY seq").all();
      const collapse = db.prepare("SELECT count(*) AS n FROM collapse WHERE terminal_id = 'a1'").get() as { n: number };
      db.close();
      expect(cursors).toEqual([
        { terminal_id: 'a1', acked_seq: 5 },
        { terminal_id: 'a2', acked_seq: 2 },
      ]);
      expect(left).toEqual([{ message_id: 'a6' }]);
      expect(collapse.n).toBe(0);
      // a later stale ack (a separate group) changes nothing
      expect(await store.ack('a1', 4)).toEqual({ lastAckedSeq: 5, advanced: false });
      expect(await store.state('a1')).toMatchObject({ lastSeq: 6, lastAckedSeq: 5 });
    } finally {
      await store.close();
    }
  });

  it('a locked database fails the whole ack group with PCM_ERR_STORE_UNAVAILABLE and moves no cursor', async () => {
    const store = new SqliteMessageStore({ file, busyTimeoutMs: 50, sweepIntervalMs: 0 });
    try {
      for (let i = 1; i <= 3; i++) await store.append({ terminalId: 'l1', payload: '{}', ttlSeconds: 60, messageId: `l${i}` }, Date.now());
      const other = new Database(file);
      other.exec('BEGIN EXCLUSIVE');
      const rs = await Promise.allSettled([store.ack('l1', 1), store.ack('l1', 2)]);
      other.exec('ROLLBACK');
      other.close();
      expect(rs.every((r) => r.status === 'rejected' && isPcmError(r.reason, 'PCM_ERR_STORE_UNAVAILABLE'))).toBe(true);
      expect(await store.state('l1')).toMatchObject({ lastAckedSeq: 0 });
      expect(await store.ack('l1', 2)).toEqual({ lastAckedSeq: 2, advanced: true });
    } finally {
      await store.close();
    }
  });

  it('writer thread: commits off the event loop; a dead thread fails its commit with STORE_UNAVAILABLE, the next write starts a new one', async () => {
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    try {
      await store.append({ terminalId: 'w1', payload: '{}', ttlSeconds: 60, messageId: 'w-a' }, Date.now());
      // the event loop keeps turning while commits are in flight: timers fire between them
      let ticks = 0;
      const timer = setInterval(() => ticks++, 0);
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.append({ terminalId: 'w1', payload: '{}', ttlSeconds: 60, messageId: `w-b${i}` }, Date.now())));
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(0);
      const writer = (store as unknown as { writer: { worker?: import('node:worker_threads').Worker } }).writer;
      const thread = writer.worker!;
      expect(thread.threadId).toBeGreaterThan(0);
      const inFlight = store.append({ terminalId: 'w1', payload: '{}', ttlSeconds: 60, messageId: 'w-lost' }, Date.now());
      await new Promise((r) => setImmediate(r)); // the batch is posted to the thread
      await thread.terminate();
      // The thread may finish that one commit before terminate() lands (commits got faster:
      // COUNTER_CACHE); then the append resolves and is stored. Otherwise it fails with 503.
      // Holding the file's lock to force the second case is not an option: terminating a thread
      // inside better-sqlite3's busy wait aborts the process.
      const err = await inFlight.then(() => undefined, (e: unknown) => e);
      if (err !== undefined) expect(isPcmError(err, 'PCM_ERR_STORE_UNAVAILABLE')).toBe(true);
      const r = await store.append({ terminalId: 'w1', payload: '{}', ttlSeconds: 60, messageId: 'w-c' }, Date.now());
      expect(writer.worker).toBeDefined();
      expect(writer.worker!.threadId).not.toBe(thread.threadId);
      const ids = (await store.pending('w1', { limit: 500, now: Date.now() })).map((m) => m.messageId);
      expect(ids[0]).toBe('w-a');
      expect(ids.at(-1)).toBe('w-c');
      if (err === undefined) expect(ids).toContain('w-lost'); // resolved = stored
      expect(ids).toHaveLength(202 + (ids.includes('w-lost') ? 1 : 0)); // terminated before or after its commit: never half
      expect(r.message.seq).toBe(ids.length);
    } finally {
      await store.close();
    }
  });

  it('pipelined group commits: groups posted while one is on disk keep call order across groups and terminals', async () => {
    // maxBatch 5 forces many groups; all are posted without waiting for the one before
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0, maxBatch: 5, maxInFlight: 8 });
    try {
      const now = Date.now();
      const rs = await Promise.all(
        Array.from({ length: 120 }, (_, i) => store.append({ terminalId: `p${i % 3}`, payload: `{"i":${i}}`, ttlSeconds: 60, messageId: `p${i}` }, now)),
      );
      for (let t = 0; t < 3; t++) {
        const mine = rs.filter((r) => r.message.terminalId === `p${t}`);
        expect(mine.map((r) => r.message.seq)).toEqual(mine.map((_, k) => k + 1));
        expect(mine.map((r) => r.message.messageId)).toEqual(mine.map((_, k) => `p${k * 3 + t}`));
      }
      // acks are judged against the appends committed before them
      const [a0, a1] = await Promise.allSettled([store.ack('p0', 40), store.ack('p1', 41)]);
      expect(a0).toEqual({ status: 'fulfilled', value: { lastAckedSeq: 40, advanced: true } });
      expect(a1.status === 'rejected' && isPcmError(a1.reason, 'PCM_ERR_INVALID_ACK')).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('a file with the older WITHOUT ROWID messages table keeps working, untouched', async () => {
    const old = new Database(file);
    old.exec(`CREATE TABLE messages (terminal_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id TEXT NOT NULL, payload TEXT NOT NULL,
      created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, correlation_id TEXT, collapse_key TEXT, PRIMARY KEY (terminal_id, seq)) WITHOUT ROWID`);
    old.close();
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    try {
      const now = Date.now();
      for (let i = 1; i <= 4; i++) await store.append({ terminalId: 'o1', payload: '{}', ttlSeconds: 60, messageId: `o${i}` }, now);
      await store.ack('o1', 2);
      expect((await store.pending('o1', { limit: 10, now })).map((m) => m.messageId)).toEqual(['o3', 'o4']);
    } finally {
      await store.close();
    }
    const db = new Database(file, { readonly: true });
    const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'messages'").get() as { sql: string }).sql;
    const keyIndex = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'messages_key'").get();
    db.close();
    expect(sql).toMatch(/WITHOUT ROWID/);
    expect(keyIndex).toBeUndefined(); // no second copy of the primary key
  });

  it('a new file gets the append-ordered messages table with its unique (terminal_id, seq) index', async () => {
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    try {
      await store.append({ terminalId: 'n1', payload: '{}', ttlSeconds: 60, messageId: 'n1' }, Date.now());
    } finally {
      await store.close();
    }
    const db = new Database(file);
    const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'messages'").get() as { sql: string }).sql;
    expect(sql).not.toMatch(/WITHOUT ROWID/);
    // the index enforces what the primary key did: one row per (terminal, seq)
    expect(() => db.prepare("INSERT INTO messages VALUES ('n1', 1, 'dup', '{}', 0, 1, NULL, NULL)").run()).toThrow(/UNIQUE/);
    db.close();
  });

  it('a closed store answers PCM_ERR_STORE_UNAVAILABLE', async () => {
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    await store.close();
    await expect(store.append({ terminalId: 't', payload: '{}', ttlSeconds: 1, messageId: 'x' }, Date.now())).rejects.toSatisfy((e: unknown) =>
      isPcmError(e, 'PCM_ERR_STORE_UNAVAILABLE'),
    );
    await expect(store.ping()).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_STORE_UNAVAILABLE'));
  });

  it('sweep deletes expired rows but keeps live ones', async () => {
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    try {
      const now = Date.now();
      await store.append({ terminalId: 't4', payload: '{}', ttlSeconds: 1, messageId: 'short', idempotencyKey: 'i' }, now);
      await store.append({ terminalId: 't4', payload: '{}', ttlSeconds: 600, messageId: 'long' }, now);
      await store.sweep(now + 5_000);
      const db = new Database(file, { readonly: true });
      const rows = db.prepare('SELECT message_id FROM messages WHERE terminal_id = ?').all('t4') as Array<{ message_id: string }>;
      db.close();
      expect(rows.map((r) => r.message_id)).toEqual(['long']);
    } finally {
      await store.close();
    }
  });

  it('LAST_SEQ: an append writes only its row; sweeps, acks and a crash keep the last seq; a clean close folds it', async () => {
    const counterRow = (db: Database.Database, t: string) => db.prepare('SELECT last_seq, acked_seq FROM counters WHERE terminal_id = ?').get(t);
    const now = Date.now();
    const core = new SqliteStoreCore({ file });
    const appendTo = (terminalId: string, ttlSeconds: number, at = now) =>
      core.write({ appends: [{ msg: { terminalId, payload: '{}', ttlSeconds, messageId: `m${Math.random()}` }, now: at }], acks: [], creates: [] }).appends[0]!.message.seq;
    // three to 'sw' that expire, two to 'ak' that get acked, one to 'cr' left for the crash
    expect([appendTo('sw', 1), appendTo('sw', 1), appendTo('sw', 1)]).toEqual([1, 2, 3]);
    expect([appendTo('ak', 600), appendTo('ak', 600), appendTo('cr', 600)]).toEqual([1, 2, 1]);
    expect(counterRow(core.db, 'sw')).toEqual({ last_seq: 0, acked_seq: 0 }); // the rows carry it
    expect(core.readState('sw')?.lastSeq).toBe(3);
    // a sweep that deletes every row of 'sw' folds its last seq in first
    core.write({ appends: [], acks: [], creates: [], sweepNow: now + 5_000 });
    expect((core.db.prepare("SELECT count(*) AS n FROM messages WHERE terminal_id = 'sw'").get() as { n: number }).n).toBe(0);
    expect(counterRow(core.db, 'sw')).toEqual({ last_seq: 3, acked_seq: 0 });
    expect(appendTo('sw', 600, now + 5_000)).toBe(4);
    // an ack that deletes every row of 'ak' does the same
    core.write({ appends: [], acks: [{ terminalId: 'ak', seq: 2 }], creates: [] });
    expect(counterRow(core.db, 'ak')).toEqual({ last_seq: 2, acked_seq: 2 });
    expect(appendTo('ak', 600)).toBe(3);
    // "crash": the core is dropped without the store's close; a new store reads the seqs from the rows
    core.db.close();
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0 });
    const raw = new Database(file, { readonly: true });
    try {
      expect(counterRow(raw, 'cr')).toEqual({ last_seq: 0, acked_seq: 0 });
      expect((await store.state('cr')).lastSeq).toBe(1);
      expect((await store.append({ terminalId: 'cr', payload: '{}', ttlSeconds: 600, messageId: 'after' }, Date.now())).message.seq).toBe(2);
      await store.close();
      // a clean close leaves every counter exact, as earlier versions of PCM read them
      expect([counterRow(raw, 'cr'), counterRow(raw, 'sw'), counterRow(raw, 'ak')]).toEqual([
        { last_seq: 2, acked_seq: 0 },
        { last_seq: 4, acked_seq: 0 },
        { last_seq: 3, acked_seq: 2 },
      ]);
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('PENDING_LIMIT: pending pages are right for every limit and bound; one statement per limit, bounded', () => {
    const now = Date.now();
    const core = new SqliteStoreCore({ file });
    try {
      const appends = Array.from({ length: 300 }, (_, i) => ({ msg: { terminalId: 't', payload: `{"i":${i}}`, ttlSeconds: 600, messageId: `m${i}` }, now }));
      core.write({ appends, acks: [], creates: [] });
      core.write({ appends: [], acks: [{ terminalId: 't', seq: 10 }], creates: [] });
      // an acked row still in the file (the ack deletes them; a file may hold one anyway) is not pending
      core.db.prepare(`INSERT INTO messages (terminal_id, seq, message_id, payload, created_at, expires_at) VALUES ('t', 5, 'old', '{}', ?, ?)`).run(now, now + 600_000);
      const seqs = (afterSeq: number, limit: number) => core.pending('t', { afterSeq, limit, now }).map((m) => m.seq);
      // the ack cursor (10) and afterSeq bound the page together, whichever is higher
      expect(seqs(0, 3)).toEqual([11, 12, 13]);
      expect(seqs(50, 3)).toEqual([51, 52, 53]);
      expect(seqs(298, 5)).toEqual([299, 300]);
      for (let limit = 1; limit <= 300; limit++) {
        const page = seqs(limit, limit); // after the higher of 10 and `limit`
        const from = Math.max(10, limit) + 1;
        expect(page).toEqual(Array.from({ length: Math.min(limit, 300 - from + 1) }, (_, k) => from + k));
      }
      // a fractional limit reads as its integer part (the SQL only ever holds a positive integer)
      expect(seqs(0, 2.7)).toEqual([11, 12]);
      expect(seqs(0, 0)).toEqual([]);
      expect(seqs(0, 0.5)).toEqual([]);
      const cached = (core as unknown as { pendingByLimit: Map<number, unknown> }).pendingByLimit;
      expect(cached.size).toBeLessThanOrEqual(256);
      expect(cached.size).toBeGreaterThan(200);
    } finally {
      core.close();
    }
  });

  it("COUNTER_CACHE: the writer's copy of the counters follows other connections' commits, a rolled-back group and the collapse rows", () => {
    const now = Date.now();
    const a = new SqliteStoreCore({ file });
    const b = new SqliteStoreCore({ file });
    const cursor = (t: string) => (a.db.prepare('SELECT acked_seq FROM counters WHERE terminal_id = ?').get(t) as { acked_seq: number }).acked_seq;
    const append = (core: SqliteStoreCore, terminalId: string, extra: { payload?: string; collapseKey?: string } = {}) =>
      core.write({ appends: [{ msg: { terminalId, payload: extra.payload ?? '{}', ttlSeconds: 600, messageId: `m${Math.random()}`, collapseKey: extra.collapseKey }, now }], acks: [], creates: [] }).appends[0]!;
    const ack = (core: SqliteStoreCore, terminalId: string, seq: number) => core.write({ appends: [], acks: [{ terminalId, seq }], creates: [] }).acks[0]!;
    try {
      // a caches t's counter; b then appends and acks: a must see both, not its copy
      expect([append(a, 't').message.seq, append(a, 't').message.seq]).toEqual([1, 2]);
      expect(append(b, 't').message.seq).toBe(3);
      expect(ack(b, 't', 3)).toEqual({ ok: { lastAckedSeq: 3, advanced: true } });
      expect(append(a, 't').message.seq).toBe(4);
      // a stale cursor in a's copy would move the stored cursor back to 2
      expect(ack(a, 't', 2)).toEqual({ ok: { lastAckedSeq: 3, advanced: false } });
      expect(cursor('t')).toBe(3);

      // a group that fails half-way is rolled back, and so is what it did to the copy
      a.db.exec(`CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.payload = '"boom"' BEGIN SELECT RAISE(ABORT, 'boom'); END`);
      const group = { appends: ['{}', '"boom"'].map((payload) => ({ msg: { terminalId: 't', payload, ttlSeconds: 600, messageId: `r${payload}` }, now })), acks: [], creates: [] };
      expect(() => a.write(group)).toThrow(/SQLite write failed/);
      a.db.exec('DROP TRIGGER boom');
      expect(append(a, 't').message.seq).toBe(5);

      // collapse rows at or below the cursor are deleted with the acked messages, and only then
      const collapseRows = () => (a.db.prepare("SELECT seq FROM collapse WHERE terminal_id = 'c' ORDER BY seq").all() as Array<{ seq: number }>).map((r) => r.seq);
      append(a, 'c', { collapseKey: 'k' });
      append(a, 'c', { collapseKey: 'j' });
      append(a, 'c');
      expect(collapseRows()).toEqual([1, 2]);
      ack(a, 'c', 1);
      expect(collapseRows()).toEqual([2]);
      ack(a, 'c', 3);
      expect(collapseRows()).toEqual([]);
      // a fresh connection (nothing cached) finds a collapse row written before it started
      append(a, 'c', { collapseKey: 'k' });
      const c2 = new SqliteStoreCore({ file });
      try {
        ack(c2, 'c', 4);
        expect(collapseRows()).toEqual([]);
      } finally {
        c2.close();
      }
    } finally {
      a.close();
      b.close();
    }
  });

  it('a sweep step deletes at most one chunk per table and says whether more is left', () => {
    const core = new SqliteStoreCore({ file, sweepChunk: 7 });
    try {
      const now = Date.now();
      const appends = Array.from({ length: 16 }, (_, i) => ({ msg: { terminalId: `t${i % 3}`, payload: '{}', ttlSeconds: 1, messageId: `e${i}`, idempotencyKey: `k${i}` }, now }));
      // idempotency records outlive their message (at least IDEMPOTENCY_MIN_SECONDS): sweep after that
      const sweepNow = now + (IDEMPOTENCY_MIN_SECONDS + 1) * 1000;
      appends.push({ msg: { terminalId: 't0', payload: '{}', ttlSeconds: IDEMPOTENCY_MIN_SECONDS + 100, messageId: 'live', idempotencyKey: 'kl' }, now });
      core.write({ appends, acks: [], creates: [] });
      const count = (table: string) => (core.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      const step = () => core.write({ appends: [], acks: [], creates: [], sweepNow }).sweptMore;
      expect(step()).toBe(true);
      expect([count('messages'), count('idempotency')]).toEqual([10, 10]);
      expect(step()).toBe(true);
      expect([count('messages'), count('idempotency')]).toEqual([3, 3]);
      expect(step()).toBeUndefined(); // 2 of each deleted: less than a chunk, done
      expect((core.db.prepare('SELECT message_id FROM messages').all() as Array<{ message_id: string }>).map((r) => r.message_id)).toEqual(['live']);
      expect(count('idempotency')).toBe(1);
    } finally {
      core.close();
    }
  });

  for (const writerThread of [true, false]) {
    it(`store.sweep() takes as many steps as the backlog needs, alongside other writes (${writerThread ? 'writer thread' : 'inline writer'})`, async () => {
      const store = new SqliteMessageStore({ file, sweepIntervalMs: 0, sweepChunk: 5, writerThread });
      try {
        const now = Date.now();
        await Promise.all(Array.from({ length: 23 }, (_, i) => store.append({ terminalId: `t${i % 4}`, payload: '{}', ttlSeconds: 1, messageId: `e${i}` }, now)));
        const live = store.append({ terminalId: 't0', payload: '{}', ttlSeconds: 600, messageId: 'live' }, now);
        const swept = store.sweep(now + 5_000);
        // writes keep going while the sweep takes its steps
        const during = store.append({ terminalId: 't9', payload: '{}', ttlSeconds: 600, messageId: 'during' }, now + 5_000);
        await Promise.all([swept, during, live]);
        const db = new Database(file, { readonly: true });
        const rows = db.prepare('SELECT message_id FROM messages ORDER BY message_id').all() as Array<{ message_id: string }>;
        db.close();
        expect(rows.map((r) => r.message_id)).toEqual(['during', 'live']);
      } finally {
        await store.close();
      }
    });
  }
});
