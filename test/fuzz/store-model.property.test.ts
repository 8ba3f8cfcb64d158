/**
 * Model-based property test for the MessageStore contract (issue 8, hostile input: "the store
 * contract"). Random sequences of appends (TTL 0/short/long, collapse and idempotency keys),
 * acks (valid, stale and beyond the counter), clock jumps and reads run against the in-memory
 * store (the reference) and the SQLite store; every answer must agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isPcmError } from '../../common/errors.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { SqliteMessageStore } from '../../gateway/adapters/sqlite/sqlite-store.js';
import type { MessageStore, StoredMessage } from '../../gateway/ports/message-store.js';

type Op =
  | { kind: 'append'; t: number; ttl: number; collapse?: string; idem?: string; payload: number }
  | { kind: 'ack'; t: number; delta: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'pending'; t: number; afterSeq?: number; limit: number }
  | { kind: 'count'; t: number }
  | { kind: 'state'; t: number };

const TERMINALS = 3;
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), t: fc.nat(TERMINALS - 1), ttl: fc.constantFrom(0, 1, 3, 3600), collapse: fc.option(fc.constantFrom('c1', 'c2'), { nil: undefined }), idem: fc.option(fc.constantFrom('i1', 'i2', 'i3'), { nil: undefined }), payload: fc.nat(1000) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ack' as const), t: fc.nat(TERMINALS - 1), delta: fc.integer({ min: -3, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(10, 999, 1000, 1500, 4000) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pending' as const), t: fc.nat(TERMINALS - 1), afterSeq: fc.option(fc.nat(8), { nil: undefined }), limit: fc.integer({ min: 1, max: 10 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('count' as const), t: fc.nat(TERMINALS - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('state' as const), t: fc.nat(TERMINALS - 1) }) },
);

/** What both stores must agree on (epochs are random per store, so they are left out). */
const msg = (m: StoredMessage) => ({ seq: m.seq, messageId: m.messageId, payload: m.payload, createdAt: m.createdAt, expiresAt: m.expiresAt, collapseKey: m.collapseKey, correlationId: m.correlationId });

async function answer(f: () => Promise<unknown>): Promise<unknown> {
  try {
    return await f();
  } catch (err) {
    if (isPcmError(err)) return { error: err.code };
    throw err;
  }
}

async function run(store: MessageStore, prefix: string, ops: Op[], start: number): Promise<unknown[]> {
  let now = start;
  const out: unknown[] = [];
  const lastSeq = new Map<number, number>();
  let n = 0;
  for (const o of ops) {
    const tid = `${prefix}-t${'t' in o ? o.t : 0}`;
    switch (o.kind) {
      case 'append':
        out.push(
          await answer(async () => {
            const r = await store.append({ terminalId: tid, payload: JSON.stringify({ p: o.payload }), ttlSeconds: o.ttl, collapseKey: o.collapse, idempotencyKey: o.idem, messageId: `m-${n++}` }, now);
            lastSeq.set(o.t, Math.max(lastSeq.get(o.t) ?? 0, r.message.seq));
            return { message: msg(r.message), duplicate: r.duplicate, collapsedSeq: r.collapsedSeq };
          }),
        );
        break;
      case 'ack':
        out.push(await answer(() => store.ack(tid, Math.max(0, (lastSeq.get(o.t) ?? 0) + o.delta))));
        break;
      case 'tick':
        now += o.ms;
        break;
      case 'pending':
        out.push(await answer(async () => (await store.pending(tid, { afterSeq: o.afterSeq, limit: o.limit, now })).map(msg)));
        break;
      case 'count':
        out.push(await answer(() => store.countPending(tid, now)));
        break;
      case 'state':
        out.push(await answer(async () => {
          const s = await store.state(tid);
          return { lastSeq: s.lastSeq, lastAckedSeq: s.lastAckedSeq };
        }));
        break;
    }
  }
  return out;
}

describe('MessageStore model test: memory and SQLite agree on random operation sequences', () => {
  let dir: string;
  let sqlite: SqliteMessageStore;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-store-model-'));
    sqlite = new SqliteMessageStore({ file: path.join(dir, 'store.db'), sweepIntervalMs: 0, synchronous: 'NORMAL' });
  });
  afterAll(async () => {
    await sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('same answers for every operation (150 sequences of up to 60 operations)', async () => {
    let run_ = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
        const prefix = `r${run_++}`; // fresh terminals per sequence in the shared SQLite file
        const start = 1_800_000_000_000;
        const memory = new MemoryMessageStore();
        const expected = await run(memory, prefix, ops, start);
        const actual = await run(sqlite, prefix, ops, start);
        await memory.close();
        expect(actual).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  // Found by the property above (it was pinned as a known divergence until 2026-11-27): after a
  // pending() read at a time the older message had expired, memory forgot it (no collapse
  // reported) while SQLite still reported collapsing it. Now neither reports collapsing a
  // message that was no longer pending (the contract test pins it for every adapter).
  it('collapsing over an expired message is reported by neither adapter, read or not', async () => {
    const memory = new MemoryMessageStore();
    const raw = async (store: MessageStore, tid: string) => {
      const a = await store.append({ terminalId: tid, payload: '1', ttlSeconds: 1, collapseKey: 'c1', messageId: 'a' }, 1_800_000_000_000);
      await store.pending(tid, { limit: 1, now: 1_800_000_004_000 });
      const b = await store.append({ terminalId: tid, payload: '2', ttlSeconds: 3600, collapseKey: 'c1', messageId: 'b' }, 1_800_000_004_000);
      return [a.message.seq, b.message.seq, b.collapsedSeq];
    };
    expect(await raw(memory, 'div-t0')).toEqual([1, 2, undefined]);
    expect(await raw(sqlite, 'div-t0')).toEqual([1, 2, undefined]);
  });
});
