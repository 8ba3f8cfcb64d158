import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPcmError } from '../../../common/errors.js';
import { loadGatewayConfig } from '../../config.js';
import { createPorts } from '../../main.js';
import { SqliteMessageStore } from './sqlite-store.js';
import { INLINE_MAX_FSYNC_MS, chooseSqliteWriter, probeFsyncMs } from './sqlite-writer-choice.js';

/** PCM_SQLITE_WRITER: where the SQLite group commits run (docs/storage.md). */
describe('SQLite writer choice', () => {
  const required = { PCM_TERMINAL_JWT_SECRET: 'x'.repeat(32), PCM_API_KEYS: 'key-12345678' };
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-writer-choice-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('auto picks inline when the flush is fast and the thread when it is slow; an explicit mode never probes', () => {
    const probeAt = (ms: number) => () => ms;
    expect(chooseSqliteWriter('auto', dir, probeAt(0.06))).toMatchObject({ writer: 'inline', fsyncMs: 0.06 });
    expect(chooseSqliteWriter('auto', dir, probeAt(INLINE_MAX_FSYNC_MS)).writer).toBe('inline');
    const slow = chooseSqliteWriter('auto', dir, probeAt(2.5));
    expect(slow).toMatchObject({ writer: 'thread', fsyncMs: 2.5 });
    expect(slow.reason).toContain('2.5 ms');
    const never = () => {
      throw new Error('probed');
    };
    expect(chooseSqliteWriter('inline', dir, never)).toEqual({ writer: 'inline', reason: 'PCM_SQLITE_WRITER=inline' });
    expect(chooseSqliteWriter('thread', dir, never).writer).toBe('thread');
    // a probe that cannot run (unwritable dir) picks the safe side and says why
    const failed = chooseSqliteWriter('auto', dir, never);
    expect(failed.writer).toBe('thread');
    expect(failed.reason).toContain('probe failed (probed)');
  });

  it('the probe measures a real flush in the data dir and leaves nothing behind', () => {
    const sub = path.join(dir, 'not-yet');
    const ms = probeFsyncMs(sub, 4);
    expect(Number.isFinite(ms)).toBe(true);
    expect(ms).toBeGreaterThan(0);
    expect(existsSync(sub)).toBe(true); // created like the data dir would be
    expect(readdirSync(sub)).toEqual([]);
  });

  it('is validated at start: default auto, anything but auto|inline|thread stops the process naming PCM_SQLITE_WRITER', () => {
    expect(loadGatewayConfig({ env: required }).sqliteWriter).toBe('auto');
    expect(loadGatewayConfig({ env: { ...required, PCM_SQLITE_WRITER: 'thread' } }).sqliteWriter).toBe('thread');
    let err: unknown;
    try {
      loadGatewayConfig({ env: { ...required, PCM_SQLITE_WRITER: 'fast' } });
    } catch (e) {
      err = e;
    }
    expect(isPcmError(err, 'PCM_ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('PCM_SQLITE_WRITER');
  });

  it('the gateway opens its store with the chosen writer and logs the choice', async () => {
    for (const mode of ['inline', 'thread', 'auto'] as const) {
      const lines: string[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
      const config = loadGatewayConfig({ env: { ...required, PCM_DATA_DIR: path.join(dir, mode), PCM_SQLITE_WRITER: mode } });
      const { store, directory, relay } = await createPorts(config, logger);
      try {
        const sqlite = store as SqliteMessageStore;
        const logged = lines.map((l) => JSON.parse(l) as { msg: string; sqliteWriter?: string; fsyncMs?: number }).find((l) => l.sqliteWriter);
        expect(logged?.sqliteWriter, mode).toBe(sqlite.writerKind);
        if (mode === 'auto') expect(logged?.fsyncMs).toBeGreaterThan(0);
        else expect(sqlite.writerKind).toBe(mode);
        // either way it is a working durable store
        const r = await store.append({ terminalId: 't1', payload: '{"a":1}', ttlSeconds: 60, messageId: `m-${mode}` }, Date.now());
        expect(r.message.seq).toBe(1);
        expect((await store.pending('t1', { now: Date.now(), limit: 10 })).map((m) => m.messageId)).toEqual([`m-${mode}`]);
      } finally {
        await Promise.all([store.close(), directory.close(), relay.close()]);
      }
    }
  });
});
