import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../config.js';
import { createPorts } from '../../main.js';
import { INLINE_FALLBACK_ASLEEP_SHARE, INLINE_FALLBACK_WINDOW_MS, SqliteMessageStore, type FallbackSwitch } from './sqlite-store.js';

const holder = fileURLToPath(new URL('./sqlite-lock-holder.ts', import.meta.url));

/** A second process sharing the file: `hold(ms)` resolves once it has taken the write lock, which it keeps for `ms`. */
async function lockHolder(file: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', holder], { env: { ...process.env, PCM_LOCK_FILE: file }, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    async hold(ms: number) {
      child.stdin!.write(`hold ${ms}\n`);
      expect((await lines.next()).value).toBe('locked');
    },
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}

/**
 * PCM_SQLITE_WRITER=auto decides at start; these check what it does later: inline commits that
 * keep waiting off the CPU (a disk that got slow, another process's lock) move the writes to
 * the writer thread; long commits that are CPU work do not.
 */
describe('SQLite inline commits fall back to the writer thread', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-inline-fallback-'));
    file = path.join(dir, 'store.db');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits that wait for another process\'s lock switch the store to the thread, once, losing nothing', async () => {
    const switches: FallbackSwitch[] = [];
    const windowMs = 600;
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0, writerThread: false, inlineFallback: { windowMs, onSwitch: (e) => switches.push(e) } });
    const t0 = performance.now(); // the first commit (the counter's) opens the window
    await store.state('t'); // schema and counter exist before the other process starts
    const lock = await lockHolder(file);
    const seqs: number[] = [];
    const append = async () => {
      await lock.hold(5); // each commit waits for the other process's lock
      const i = seqs.length;
      seqs.push((await store.append({ terminalId: 't', payload: '{}', ttlSeconds: 600, messageId: `m${i}` }, Date.now())).message.seq);
    };
    try {
      expect(store.writerKind).toBe('inline');
      while (switches.length === 0 && performance.now() - t0 < 10_000) await append();
      expect(performance.now() - t0).toBeGreaterThanOrEqual(windowMs); // not before a whole window
      expect(store.writerKind).toBe('thread');
      expect(switches).toHaveLength(1);
      expect(switches[0]!.asleepShare).toBeGreaterThanOrEqual(INLINE_FALLBACK_ASLEEP_SHARE);
      expect(switches[0]!.meanAsleepMs).toBeGreaterThan(1);
      // later commits (the thread's) wait just the same, and are not counted again
      const t1 = performance.now();
      while (performance.now() - t1 < windowMs * 1.5) await append();
      expect(switches).toHaveLength(1);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    } finally {
      await lock.stop();
    }
    const pend = await store.pending('t', { now: Date.now(), limit: 10_000 });
    expect(pend.map((m) => m.messageId)).toEqual(seqs.map((_, i) => `m${i}`));
    await store.close();
  }, 60_000);

  it('without inlineFallback (PCM_SQLITE_WRITER=inline) the same waits keep the commits inline', async () => {
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0, writerThread: false });
    await store.state('t');
    const lock = await lockHolder(file);
    try {
      const t0 = performance.now();
      for (let i = 0; performance.now() - t0 < 1_500; i++) {
        await lock.hold(5);
        await store.append({ terminalId: 't', payload: '{}', ttlSeconds: 600, messageId: `m${i}` }, Date.now());
      }
      expect(store.writerKind).toBe('inline');
    } finally {
      await lock.stop();
      await store.close();
    }
  }, 60_000);

  it('long commits that are CPU work (big groups, no flush to wait for) stay inline', async () => {
    const switches: unknown[] = [];
    const windowMs = 400;
    const store = new SqliteMessageStore({ file, sweepIntervalMs: 0, synchronous: 'NORMAL', writerThread: false, inlineFallback: { windowMs, onSwitch: (e) => switches.push(e) } });
    // No flush at all, so what a commit takes is SQL work on the CPU: NORMAL alone still fsyncs
    // at every WAL checkpoint, which on a CI box busy with other tests' disk I/O slept past the
    // share twice. OFF is not a PCM setting; it is set here on the inline writer's connection.
    (store as unknown as { reader: { db: Database.Database } }).reader.db.pragma('synchronous = OFF');
    try {
      let longest = 0;
      const t0 = performance.now();
      for (let g = 0; performance.now() - t0 < windowMs * 3; g++) {
        const t = performance.now();
        await Promise.all(
          Array.from({ length: 400 }, (_, i) => store.append({ terminalId: `t${i % 97}`, payload: '{"x":"' + 'y'.repeat(200) + '"}', ttlSeconds: 600, messageId: `g${g}-${i}` }, Date.now())),
        );
        longest = Math.max(longest, performance.now() - t);
      }
      expect(longest).toBeGreaterThan(2); // the commits really were long, and back to back
      expect(switches).toEqual([]);
      expect(store.writerKind).toBe('inline');
    } finally {
      await store.close();
    }
  }, 60_000);

  it('the gateway: PCM_SQLITE_WRITER=auto falls back and logs a warning naming the setting; inline does not', async () => {
    const required = { PCM_TERMINAL_JWT_SECRET: 'x'.repeat(32), PCM_API_KEYS: 'key-12345678' };
    for (const mode of ['auto', 'inline'] as const) {
      const lines: string[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
      const dataDir = path.join(dir, mode);
      const config = loadGatewayConfig({ env: { ...required, PCM_DATA_DIR: dataDir, PCM_SQLITE_WRITER: mode } });
      const { store, directory, relay } = await createPorts(config, logger);
      const sqlite = store as SqliteMessageStore;
      if (sqlite.writerKind === 'thread') {
        // auto chose the thread at start (a slow disk here): there is nothing to fall back from
        process.stdout.write(`note: PCM_SQLITE_WRITER=auto chose the thread on ${dataDir}; the fallback is checked by the store tests above\n`);
        await Promise.all([store.close(), directory.close(), relay.close()]);
        continue;
      }
      await store.state('t');
      const lock = await lockHolder(path.join(dataDir, 'messages.db'));
      try {
        // the gateway's own window (INLINE_FALLBACK_WINDOW_MS), and a little more
        const t0 = performance.now();
        for (let i = 0; performance.now() - t0 < INLINE_FALLBACK_WINDOW_MS + 1_500 && sqlite.writerKind === 'inline'; i++) {
          await lock.hold(5);
          await store.append({ terminalId: 't', payload: '{}', ttlSeconds: 600, messageId: `m${i}` }, Date.now());
        }
        const warned = lines.map((l) => JSON.parse(l) as { level: number; msg: string; sqliteWriter?: string }).filter((l) => l.msg.includes('from now on'));
        if (mode === 'auto') {
          expect(sqlite.writerKind).toBe('thread');
          expect(warned).toHaveLength(1);
          expect(warned[0]).toMatchObject({ level: 40, sqliteWriter: 'thread' });
          expect(warned[0]!.msg).toContain('PCM_SQLITE_WRITER=thread');
        } else {
          expect(sqlite.writerKind).toBe('inline');
          expect(warned).toEqual([]);
        }
      } finally {
        await lock.stop();
        await Promise.all([store.close(), directory.close(), relay.close()]);
      }
    }
  }, 60_000);
});

/**
 * The fold at close (LAST_SEQ, sqlite-core.ts) is a courtesy to earlier versions of PCM: another
 * process holding the file's write lock must not keep this one's close waiting its busy timeout.
 */
describe('SQLite close while another process holds the write lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-close-lock-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const writerThread of [false, true]) {
    it(`skips the fold instead of waiting for the lock (${writerThread ? 'writer thread' : 'inline'}); the next open still knows every last seq`, async () => {
      const file = path.join(dir, 'store.db');
      const store = new SqliteMessageStore({ file, sweepIntervalMs: 0, writerThread, busyTimeoutMs: 10_000 });
      for (let i = 0; i < 3; i++) await store.append({ terminalId: 't', payload: '{}', ttlSeconds: 600, messageId: `m${i}` }, Date.now());
      const lock = await lockHolder(file);
      try {
        await lock.hold(3_500);
        // close must finish while the other process still holds the lock (it keeps it 3.5 s;
        // waiting for it would take the whole busy timeout, 10 s)
        const outcome = await Promise.race([
          store.close().then(() => 'closed'),
          new Promise<string>((r) => setTimeout(() => r('still waiting'), 2_000).unref()),
        ]);
        expect(outcome).toBe('closed');
      } finally {
        await lock.stop();
      }
      // not folded: counters.last_seq still lags, and the store reads the last seq from the rows
      const raw = new Database(file, { readonly: true });
      expect(raw.prepare("SELECT last_seq FROM counters WHERE terminal_id = 't'").get()).toEqual({ last_seq: 0 });
      raw.close();
      const again = new SqliteMessageStore({ file, sweepIntervalMs: 0, writerThread: false });
      try {
        expect((await again.state('t')).lastSeq).toBe(3);
        expect((await again.append({ terminalId: 't', payload: '{}', ttlSeconds: 600, messageId: 'm3' }, Date.now())).message.seq).toBe(4);
      } finally {
        await again.close();
      }
    }, 30_000);
  }
});
