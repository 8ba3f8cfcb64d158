import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuplicateFilter } from './duplicate-filter.js';
import { FileDuplicateStore } from './file-duplicate-store.js';
import { MemoryDuplicateStore } from './duplicate-store.js';
import { PROFILES, resolveProfile } from './profiles.js';

describe('DuplicateFilter (epoch-aware, DESIGN.md 2.3)', () => {
  it('drops seqs at or below the last handled one', () => {
    const f = new DuplicateFilter({ lastSeq: 0 });
    expect(f.isDuplicate(1)).toBe(false);
    f.markHandled(1);
    f.markHandled(2);
    expect(f.isDuplicate(1)).toBe(true);
    expect(f.isDuplicate(2)).toBe(true);
    expect(f.isDuplicate(3)).toBe(false);
    f.markHandled(1); // never moves backwards
    expect(f.snapshot.lastSeq).toBe(2);
  });

  it('adopts a first epoch without reset, resets on a changed epoch, ignores a missing one', () => {
    const f = new DuplicateFilter({ lastSeq: 5 });
    expect(f.observeEpoch('e1')).toEqual({ changed: true, reset: false });
    expect(f.snapshot).toEqual({ epoch: 'e1', lastSeq: 5 });
    expect(f.observeEpoch(undefined)).toEqual({ changed: false, reset: false });
    expect(f.observeEpoch('e1')).toEqual({ changed: false, reset: false });
    expect(f.observeEpoch('e2')).toEqual({ changed: true, reset: true });
    expect(f.snapshot).toEqual({ epoch: 'e2', lastSeq: 0 });
    expect(f.isDuplicate(1)).toBe(false);
  });
});

describe('FileDuplicateStore (real files)', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips per terminal, survives a new instance, leaves no temp files', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-dedup-'));
    const a = new FileDuplicateStore(path.join(dir, 'nested'));
    expect(await a.load('t:1')).toEqual({ lastSeq: 0 });
    await a.save('t:1', { epoch: 'e', lastSeq: 7 });
    await a.save('t-2', { lastSeq: 3 });
    const b = new FileDuplicateStore(path.join(dir, 'nested'));
    expect(await b.load('t:1')).toEqual({ epoch: 'e', lastSeq: 7 });
    expect(await b.load('t-2')).toEqual({ lastSeq: 3 });
    expect(readdirSync(path.join(dir, 'nested')).sort()).toEqual(['t%3A1.dedup.json', 't-2.dedup.json']);
  });

  it('serializes concurrent saves in call order (last call wins)', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-dedup-'));
    const s = new FileDuplicateStore(dir);
    await Promise.all(Array.from({ length: 30 }, (_, i) => s.save('t', { lastSeq: i + 1 })));
    expect(JSON.parse(readFileSync(s.fileFor('t'), 'utf8'))).toEqual({ lastSeq: 30 });
    expect(readdirSync(dir)).toEqual(['t.dedup.json']);
  });

  it('a corrupt file is a clear error, not a silent reset', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-dedup-'));
    const s = new FileDuplicateStore(dir);
    writeFileSync(s.fileFor('t'), '{"lastSeq": "x"');
    await expect(s.load('t')).rejects.toThrow(/is corrupt; delete it to reset/);
  });

  it('memory store copies state', async () => {
    const m = new MemoryDuplicateStore();
    const st = { lastSeq: 1 };
    await m.save('t', st);
    st.lastSeq = 99;
    expect(await m.load('t')).toEqual({ lastSeq: 1 });
  });
});

describe('profiles', () => {
  it('aggressive < normal < passive in heartbeat and backoff; overrides apply', () => {
    expect(PROFILES.aggressive.heartbeatMs).toBeLessThan(PROFILES.normal.heartbeatMs);
    expect(PROFILES.normal.heartbeatMs).toBeLessThan(PROFILES.passive.heartbeatMs);
    expect(PROFILES.aggressive.backoff.capMs).toBeLessThan(PROFILES.passive.backoff.capMs);
    expect(resolveProfile('normal', { backoff: { baseMs: 10, capMs: 80 } })).toEqual({ heartbeatMs: 30_000, backoff: { baseMs: 10, capMs: 80 }, connectTimeoutMs: 10_000 });
  });
});
