import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isPcmError } from '../../common/errors.js';
import { MemoryMessageStore } from '../adapters/memory/memory-store.js';
import { SqliteMessageStore } from '../adapters/sqlite/sqlite-store.js';
import type { MessageStore } from '../ports/message-store.js';
import { QueueLimit, type QueueLimitOptions } from './queue-limit.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const stores: [string, () => MessageStore][] = [
  ['memory', () => new MemoryMessageStore()],
  [
    'sqlite',
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'pcm-queue-limit-'));
      dirs.push(dir);
      return new SqliteMessageStore({ file: path.join(dir, 'messages.db'), sweepIntervalMs: 0 });
    },
  ],
];

let n = 0;
const tid = (label: string) => `${label}-${++n}`;

/** What the engine does for one send: check, append, tell the limit. */
async function send(limit: QueueLimit, store: MessageStore, terminalId: string, now: number, extra: { ttlSeconds?: number; collapseKey?: string } = {}) {
  const full = limit.check(terminalId, now);
  if (full) await full;
  const r = await store.append({ terminalId, payload: '{}', ttlSeconds: extra.ttlSeconds ?? 600, collapseKey: extra.collapseKey, messageId: `m-${++n}` }, now);
  limit.appended(terminalId, r.message.seq, r.epoch, r.collapsedSeq !== undefined);
  return r;
}

async function refused(p: Promise<unknown>): Promise<Record<string, unknown>> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isPcmError(err, 'PCM_ERR_QUEUE_FULL')) throw new Error(`expected PCM_ERR_QUEUE_FULL, got ${String(err)}`);
  expect(err.status).toBe(429);
  return err.details!;
}

describe.each(stores)('QueueLimit on the %s store', (_name, makeStore) => {
  const store = makeStore();
  afterAll(() => store.close());
  const make = (opts: Partial<QueueLimitOptions> = {}) => new QueueLimit({ maxPending: 3, ...opts }, store);

  it('accepts up to the limit, then refuses with PCM_ERR_QUEUE_FULL and stores nothing', async () => {
    const limit = make();
    const t = tid('fill');
    const now = Date.now();
    for (let i = 0; i < 3; i++) await send(limit, store, t, now);
    const details = await refused(send(limit, store, t, now));
    expect(details).toEqual({ terminalId: t, pending: 3, limit: 3 });
    expect(await store.countPending(t, now)).toBe(3);
    expect((await store.state(t)).lastSeq).toBe(3); // the refused send took no seq
  });

  it('an ack makes room again, with no store read on the way', async () => {
    const limit = make();
    const t = tid('ack');
    const now = Date.now();
    for (let i = 0; i < 3; i++) await send(limit, store, t, now);
    await refused(send(limit, store, t, now));
    const r = await store.ack(t, 2);
    limit.acked(t, r.lastAckedSeq);
    const count = vi.spyOn(store, 'countPending');
    const state = vi.spyOn(store, 'state');
    try {
      await send(limit, store, t, now);
      await send(limit, store, t, now);
      expect(count).not.toHaveBeenCalled();
      expect(state).not.toHaveBeenCalled();
      await refused(send(limit, store, t, now));
    } finally {
      count.mockRestore();
      state.mockRestore();
    }
  });

  it('expired messages do not count: the exact count is read when the bound says full', async () => {
    const limit = make({ countReuseMs: 10_000 });
    const t = tid('expired');
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) await send(limit, store, t, t0, { ttlSeconds: 1 });
    await refused(send(limit, store, t, t0));
    // 2 s later all three expired, but the count of t0 is reused for countReuseMs (documented)
    await refused(send(limit, store, t, t0 + 2_000));
    // then counted again: seq - cursor still says 3, the exact count says 0
    await send(limit, store, t, t0 + 10_000, { ttlSeconds: 600 });
    const other = make();
    const u = tid('expired-fresh');
    for (let i = 0; i < 3; i++) await send(other, store, u, t0, { ttlSeconds: 1 });
    await send(other, store, u, t0 + 2_000); // never counted while live: counted now, 0
  });

  it('sees acks made on another gateway once its view is older than staleMs', async () => {
    const mine = make({ staleMs: 1_000, countReuseMs: 60_000 });
    const t = tid('remote-ack');
    const now = Date.now();
    for (let i = 0; i < 3; i++) await send(mine, store, t, now);
    await refused(send(mine, store, t, now));
    await store.ack(t, 3); // the terminal acked on its own gateway: this one was not told
    await refused(send(mine, store, t, now + 500)); // within staleMs the old view stands
    await send(mine, store, t, now + 1_500);
  });

  it('a terminal first seen with a full queue is checked from its second send here', async () => {
    const other = make({ maxPending: 0 });
    const t = tid('first-seen');
    const now = Date.now();
    for (let i = 0; i < 5; i++) await send(other, store, t, now); // filled through another gateway (no limit there)
    const mine = make();
    await send(mine, store, t, now); // nothing known here yet: accepted (documented)
    const details = await refused(send(mine, store, t, now));
    expect(details.pending).toBe(6);
  });

  it('a full terminal that keeps being sent to costs one count per countReuseMs, not one per send (and one onFull call)', async () => {
    const onFull = vi.fn();
    const limit = make({ countReuseMs: 10_000, onFull });
    const t = tid('hammer');
    const now = Date.now();
    for (let i = 0; i < 3; i++) await send(limit, store, t, now);
    const count = vi.spyOn(store, 'countPending');
    try {
      for (let i = 0; i < 20; i++) await refused(send(limit, store, t, now + i));
      expect(count).toHaveBeenCalledTimes(1);
      expect(onFull).toHaveBeenCalledTimes(1);
      expect(onFull).toHaveBeenCalledWith(t, 3, 3);
      await refused(send(limit, store, t, now + 10_001));
      expect(count).toHaveBeenCalledTimes(2);
      expect(onFull).toHaveBeenCalledTimes(2);
    } finally {
      count.mockRestore();
    }
  });

  it('0 turns it off: no store reads, nothing refused', async () => {
    const limit = make({ maxPending: 0 });
    const t = tid('off');
    const count = vi.spyOn(store, 'countPending');
    const state = vi.spyOn(store, 'state');
    try {
      for (let i = 0; i < 10; i++) await send(limit, store, t, Date.now());
      expect(count).not.toHaveBeenCalled();
      expect(state).not.toHaveBeenCalled();
    } finally {
      count.mockRestore();
      state.mockRestore();
    }
  });
});

describe('QueueLimit', () => {
  it('rejects a negative or fractional limit', () => {
    expect(() => new QueueLimit({ maxPending: -1 }, new MemoryMessageStore())).toThrow(/maxPending/);
    expect(() => new QueueLimit({ maxPending: 1.5 }, new MemoryMessageStore())).toThrow(/maxPending/);
  });

  it('forgets what it knew of a counter that was recreated (new epoch)', async () => {
    const store = new MemoryMessageStore();
    const limit = new QueueLimit({ maxPending: 2 }, store);
    const t = 'epoch-1';
    const now = Date.now();
    limit.appended(t, 500, 'old-epoch', false); // a view of an old counter with 500 unacked
    // the store has a fresh counter (the old one was lost): its state arrives with a new epoch
    limit.observed(t, await store.state(t), now);
    expect(limit.check(t, now)).toBeUndefined();
  });
});
