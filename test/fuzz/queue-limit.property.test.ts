/**
 * Property test of the per-terminal queue limit (gateway/core/queue-limit.ts) against the
 * in-memory store as the reference: one gateway, sequential sends (plain and collapse-keyed),
 * terminal acks and admin-style acks of everything, long TTLs. Under those conditions the
 * limit is exact, whatever the order: a send is refused if and only if the terminal already
 * holds `limit` pending messages, and no terminal ever holds more. (Expiry, other gateways and
 * racing sends make it approximate; docs/sender-api.md says by how much.)
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isPcmError } from '../../common/errors.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { QueueLimit } from '../../gateway/core/queue-limit.js';

type Op =
  | { kind: 'send'; t: number; collapse?: string }
  | { kind: 'ack'; t: number; back: number }
  | { kind: 'tick'; ms: number };

const TERMINALS = 2;
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('send' as const), t: fc.nat(TERMINALS - 1), collapse: fc.option(fc.constantFrom('c1', 'c2'), { nil: undefined }) }) },
  // ack the highest seq minus `back` (0 = everything, like a caught-up terminal or a purge)
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('ack' as const), t: fc.nat(TERMINALS - 1), back: fc.nat(4) }) },
  // below staleMs and countReuseMs, then past both
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(10, 1_000, 31_000) }) },
);

describe('QueueLimit property (memory store, one gateway, sequential)', () => {
  it('refuses a send if and only if the terminal already holds the limit; never more pending than the limit', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(op, { minLength: 1, maxLength: 80 }), async (max, ops) => {
        const store = new MemoryMessageStore();
        const limit = new QueueLimit({ maxPending: max }, store);
        let now = 1_800_000_000_000;
        for (const o of ops) {
          const t = `t${'t' in o ? o.t : 0}`;
          if (o.kind === 'tick') {
            now += o.ms;
            continue;
          }
          if (o.kind === 'ack') {
            const st = await store.state(t);
            const seq = Math.max(st.lastAckedSeq, st.lastSeq - o.back);
            if (seq > st.lastAckedSeq) limit.acked(t, (await store.ack(t, seq)).lastAckedSeq);
            continue;
          }
          const before = await store.countPending(t, now);
          let refused = false;
          try {
            const full = limit.check(t, now);
            if (full) await full;
          } catch (err) {
            if (!isPcmError(err, 'PCM_ERR_QUEUE_FULL')) throw err;
            refused = true;
          }
          expect(refused, `send to ${t} with ${before} pending, limit ${max}`).toBe(before >= max);
          if (!refused) {
            const r = await store.append({ terminalId: t, payload: '{}', ttlSeconds: 3600, collapseKey: o.collapse, messageId: `m${now}` }, now);
            limit.appended(t, r.message.seq, r.epoch, r.collapsedSeq !== undefined);
          }
          expect(await store.countPending(t, now)).toBeLessThanOrEqual(max);
        }
        await store.close();
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
