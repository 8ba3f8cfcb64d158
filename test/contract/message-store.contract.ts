import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { isPcmError } from '../../common/errors.js';
import type { MessageStore, NewMessage } from '../../gateway/ports/message-store.js';

/**
 * The exported MessageStore contract (DESIGN.md sections 2 and 4), in the style of
 * aedes-persistence's abstract.js: every adapter's test file calls
 * `messageStoreContract(name, factory)` and must pass all of it.
 *
 * Time: the suite owns the `now` it passes to the store (a ManualClock starting at real
 * time, or the harness's). TTL cases move time with `timeTravel`, never with sleeps. An
 * adapter whose server expires data by itself (Couchbase) supplies `timeTravel` so the
 * server's clock moves too; that hook must also advance `clock`.
 */
export interface MessageStoreHarness {
  store: MessageStore;
  clock?: ManualClock;
  timeTravel?: (ms: number) => Promise<void>;
  /** Closes the store and opens a new one on the same data (durable adapters). */
  restart?: () => Promise<MessageStore>;
  /** Destroys the terminal's counter record, as a lost/recreated counter would. */
  loseCounter?: (terminalId: string) => Promise<void>;
  cleanup: () => Promise<void>;
}

/**
 * What the adapter claims, declared up front so inapplicable cases are not registered at all
 * (a skipped case would read as "not proven"). Durable adapters must supply `restart`.
 */
export interface MessageStoreTraits {
  /** Data survives a close and reopen (memory: false). Default true. */
  durable?: boolean;
}

export function messageStoreContract(name: string, factory: () => Promise<MessageStoreHarness>, traits: MessageStoreTraits = {}): void {
  const durable = traits.durable ?? true;
  describe(`MessageStore contract: ${name}`, () => {
    let h: MessageStoreHarness;
    let store: MessageStore;
    let clock: ManualClock;
    // Fresh terminal ids per test: shared backends (a Couchbase bucket) keep data between runs.
    const tid = (label = 't') => `${label}-${randomUUID().slice(0, 12)}`;
    const travel = async (ms: number) => {
      if (h.timeTravel) await h.timeTravel(ms);
      else clock.advance(ms);
    };
    let n = 0;
    const msg = (terminalId: string, extra: Partial<NewMessage> = {}): NewMessage => {
      n++;
      return { terminalId, payload: JSON.stringify({ n }), ttlSeconds: 3600, messageId: randomUUID(), ...extra };
    };
    const append = (m: NewMessage) => store.append(m, clock.now());
    const pendingSeqs = async (t: string, limit = 1000) =>
      (await store.pending(t, { limit, now: clock.now() })).map((m) => m.seq);

    beforeEach(async () => {
      h = await factory();
      store = h.store;
      clock = h.clock ?? new ManualClock(Date.now());
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('seq starts at 1 and increments per terminal', async () => {
      const t = tid();
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) seqs.push((await append(msg(t))).message.seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5]);
      const st = await store.state(t);
      expect(st.lastSeq).toBe(5);
      expect(st.lastAckedSeq).toBe(0);
    });

    it('a never-messaged terminal has an empty queue', async () => {
      const t = tid();
      expect(await store.pending(t, { limit: 10, now: clock.now() })).toEqual([]);
      expect(await store.countPending(t, clock.now())).toBe(0);
      const st = await store.state(t);
      expect(st).toMatchObject({ lastSeq: 0, lastAckedSeq: 0 });
      expect(typeof st.epoch).toBe('string');
      expect(st.epoch.length).toBeGreaterThan(0);
    });

    it('returns pending messages in seq order with every field kept verbatim', async () => {
      const t = tid();
      const payload = '{"amount":1250,"currency":"EUR","note":"caf\\u00e9 \\"x\\""}';
      const now = clock.now();
      const r1 = await append(msg(t, { payload, correlationId: 'corr-1', ttlSeconds: 120 }));
      const r2 = await append(msg(t, { collapseKey: 'price' }));
      const r3 = await append(msg(t));
      const pend = await store.pending(t, { limit: 10, now });
      expect(pend.map((m) => m.seq)).toEqual([1, 2, 3]);
      expect(pend[0]).toEqual({
        terminalId: t,
        seq: 1,
        messageId: r1.message.messageId,
        payload,
        createdAt: now,
        expiresAt: now + 120_000,
        correlationId: 'corr-1',
      });
      expect(r1.message).toEqual(pend[0]);
      expect(pend[1]).toMatchObject({ collapseKey: 'price', messageId: r2.message.messageId });
      expect(pend[2]!.messageId).toBe(r3.message.messageId);
      expect(pend[2]!.correlationId).toBeUndefined();
      expect(r1.duplicate).toBe(false);
    });

    it('pages with afterSeq and limit', async () => {
      const t = tid();
      for (let i = 0; i < 25; i++) await append(msg(t));
      const seen: number[] = [];
      let after = 0;
      for (let page = 0; page < 10; page++) {
        const got = await store.pending(t, { afterSeq: after, limit: 10, now: clock.now() });
        if (got.length === 0) break;
        expect(got.length).toBeLessThanOrEqual(10);
        seen.push(...got.map((m) => m.seq));
        after = got[got.length - 1]!.seq;
      }
      expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
      expect(await pendingSeqs(t, 0)).toEqual([]);
      // afterSeq below the cursor does not resurrect acked messages
      await store.ack(t, 20);
      expect((await store.pending(t, { afterSeq: 3, limit: 100, now: clock.now() })).map((m) => m.seq)).toEqual([21, 22, 23, 24, 25]);
    });

    it('never returns expired messages (TTL by time travel)', async () => {
      const t = tid();
      await append(msg(t, { ttlSeconds: 5 }));
      await append(msg(t, { ttlSeconds: 3600 }));
      await append(msg(t, { ttlSeconds: 5 }));
      expect(await pendingSeqs(t)).toEqual([1, 2, 3]);
      expect(await store.countPending(t, clock.now())).toBe(3);
      await travel(6_000);
      expect(await pendingSeqs(t)).toEqual([2]);
      expect(await store.countPending(t, clock.now())).toBe(1);
      // the counter is not affected by expiry
      expect((await append(msg(t))).message.seq).toBe(4);
    });

    it('treats a message as expired exactly at expiresAt', async () => {
      const t = tid();
      const r = await append(msg(t, { ttlSeconds: 10 }));
      expect(await store.pending(t, { limit: 10, now: r.message.expiresAt - 1 })).toHaveLength(1);
      expect(await store.pending(t, { limit: 10, now: r.message.expiresAt })).toHaveLength(0);
    });

    it('ttlSeconds 0 takes a seq but is never returned by pending', async () => {
      const t = tid();
      const r = await append(msg(t, { ttlSeconds: 0 }));
      expect(r.message.seq).toBe(1);
      expect(r.message.expiresAt).toBe(r.message.createdAt);
      expect(await pendingSeqs(t)).toEqual([]);
      expect(await store.countPending(t, clock.now())).toBe(0);
      const r2 = await append(msg(t));
      expect(r2.message.seq).toBe(2);
      expect(await pendingSeqs(t)).toEqual([2]);
    });

    it('a collapse key replaces an undelivered older message', async () => {
      const t = tid();
      const a = await append(msg(t, { collapseKey: 'price' }));
      await append(msg(t));
      await append(msg(t, { collapseKey: 'other' }));
      const c = await append(msg(t, { collapseKey: 'price' }));
      expect(a.collapsedSeq).toBeUndefined();
      expect(c.collapsedSeq).toBe(1);
      expect(c.message.seq).toBe(4);
      expect(await pendingSeqs(t)).toEqual([2, 3, 4]);
      const d = await append(msg(t, { collapseKey: 'price' }));
      expect(d.collapsedSeq).toBe(4);
      expect(await pendingSeqs(t)).toEqual([2, 3, 5]);
      expect(await store.countPending(t, clock.now())).toBe(3);
      // same key on another terminal is independent
      const other = tid();
      const o = await append(msg(other, { collapseKey: 'price' }));
      expect(o.collapsedSeq).toBeUndefined();
      expect(await pendingSeqs(t)).toEqual([2, 3, 5]);
    });

    it('a collapse key does not touch an acked message', async () => {
      const t = tid();
      await append(msg(t, { collapseKey: 'k' }));
      await append(msg(t));
      await store.ack(t, 2);
      const c = await append(msg(t, { collapseKey: 'k' }));
      expect(c.collapsedSeq).toBeUndefined();
      expect(await store.state(t)).toMatchObject({ lastSeq: 3, lastAckedSeq: 2 });
      expect(await pendingSeqs(t)).toEqual([3]);
    });

    it('a collapse over an older message that already expired reports no collapse (it was not pending), read or not', async () => {
      for (const read of [false, true]) {
        const t = tid();
        await append(msg(t, { collapseKey: 'k', ttlSeconds: 5 }));
        await travel(6_000);
        if (read) expect(await pendingSeqs(t)).toEqual([]);
        const b = await append(msg(t, { collapseKey: 'k' }));
        expect(b.collapsedSeq).toBeUndefined();
        expect(await pendingSeqs(t)).toEqual([2]);
      }
    });

    it('an idempotency key returns the first result and stores nothing', async () => {
      const t = tid();
      const first = await append(msg(t, { idempotencyKey: 'order-42' }));
      const retry = await append(msg(t, { idempotencyKey: 'order-42', payload: '{"different":true}' }));
      expect(first.duplicate).toBe(false);
      expect(retry.duplicate).toBe(true);
      expect(retry.message).toEqual(first.message);
      expect(retry.epoch).toBe(first.epoch);
      expect(await pendingSeqs(t)).toEqual([1]);
      expect((await store.state(t)).lastSeq).toBe(1);
      // a different key, or the same key on another terminal, is a new message
      expect((await append(msg(t, { idempotencyKey: 'order-43' }))).message.seq).toBe(2);
      const other = tid();
      const o = await append(msg(other, { idempotencyKey: 'order-42' }));
      expect(o.duplicate).toBe(false);
      expect(o.message.terminalId).toBe(other);
    });

    it('findIdempotent returns the first result of a key without storing anything, and nothing for an unknown key', async () => {
      const t = tid();
      const first = await append(msg(t, { idempotencyKey: 'order-7' }));
      const found = await store.findIdempotent(t, 'order-7', clock.now());
      expect(found).toMatchObject({ duplicate: true, epoch: first.epoch, message: first.message });
      expect(await store.findIdempotent(t, 'order-8', clock.now())).toBeUndefined();
      expect(await store.findIdempotent(tid(), 'order-7', clock.now())).toBeUndefined(); // the key is per terminal
      expect((await store.state(t)).lastSeq).toBe(1);
      expect(await pendingSeqs(t)).toEqual([1]);
    });

    it('an idempotent retry after the message was acked still returns the first result', async () => {
      const t = tid();
      const first = await append(msg(t, { idempotencyKey: 'k1', ttlSeconds: 0 }));
      await append(msg(t));
      await store.ack(t, 2);
      const retry = await append(msg(t, { idempotencyKey: 'k1' }));
      expect(retry).toMatchObject({ duplicate: true, message: { seq: first.message.seq, messageId: first.message.messageId } });
      expect((await store.state(t)).lastSeq).toBe(2);
    });

    it('concurrent appends with one idempotency key store exactly one message', async () => {
      const t = tid();
      const results = await Promise.all(Array.from({ length: 20 }, () => append(msg(t, { idempotencyKey: 'same' }))));
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(results.map((r) => r.message.seq)).size).toBe(1);
      expect(await pendingSeqs(t)).toHaveLength(1);
    });

    it('concurrent appends with one collapse key leave only the newest pending', async () => {
      const t = tid();
      await append(msg(t));
      const results = await Promise.all(Array.from({ length: 20 }, () => append(msg(t, { collapseKey: 'race' }))));
      const newest = Math.max(...results.map((r) => r.message.seq));
      expect(await pendingSeqs(t)).toEqual([1, newest]);
      expect(await store.countPending(t, clock.now())).toBe(2);
    });

    it('concurrent acks leave the cursor at the highest one', async () => {
      const t = tid();
      for (let i = 0; i < 30; i++) await append(msg(t));
      const acks = Array.from({ length: 30 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      const results = await Promise.all(acks.map((s) => store.ack(t, s)));
      expect(results.some((r) => r.advanced)).toBe(true);
      expect((await store.state(t)).lastAckedSeq).toBe(30);
      expect(await pendingSeqs(t)).toEqual([]);
    });

    it('cumulative ack moves the cursor monotonically; stale acks are no-ops', async () => {
      const t = tid();
      for (let i = 0; i < 5; i++) await append(msg(t));
      expect(await store.ack(t, 3)).toEqual({ lastAckedSeq: 3, advanced: true });
      expect(await pendingSeqs(t)).toEqual([4, 5]);
      expect(await store.ack(t, 2)).toEqual({ lastAckedSeq: 3, advanced: false });
      expect(await store.ack(t, 3)).toEqual({ lastAckedSeq: 3, advanced: false });
      expect(await store.ack(t, 0)).toEqual({ lastAckedSeq: 3, advanced: false });
      expect(await store.state(t)).toMatchObject({ lastSeq: 5, lastAckedSeq: 3 });
      expect(await store.ack(t, 5)).toEqual({ lastAckedSeq: 5, advanced: true });
      expect(await pendingSeqs(t)).toEqual([]);
      expect(await store.countPending(t, clock.now())).toBe(0);
    });

    it('an ack beyond lastSeq throws PCM_ERR_INVALID_ACK and changes nothing', async () => {
      const t = tid();
      for (let i = 0; i < 3; i++) await append(msg(t));
      await store.ack(t, 1);
      const err = await store.ack(t, 4).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isPcmError(err, 'PCM_ERR_INVALID_ACK')).toBe(true);
      expect(await store.state(t)).toMatchObject({ lastSeq: 3, lastAckedSeq: 1 });
      expect(await pendingSeqs(t)).toEqual([2, 3]);
      const never = tid();
      await expect(store.ack(never, 1)).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_INVALID_ACK'));
      await expect(store.ack(t, 1.5)).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_INVALID_ACK'));
      await expect(store.ack(t, -1)).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_INVALID_ACK'));
      expect(await store.state(t)).toMatchObject({ lastSeq: 3, lastAckedSeq: 1 });
    });

    it('acking past gaps (expired or collapsed seqs) works', async () => {
      const t = tid();
      await append(msg(t, { collapseKey: 'k' }));
      await append(msg(t, { ttlSeconds: 0 }));
      await append(msg(t, { collapseKey: 'k' }));
      await append(msg(t));
      expect(await pendingSeqs(t)).toEqual([3, 4]);
      expect(await store.ack(t, 3)).toEqual({ lastAckedSeq: 3, advanced: true });
      expect(await pendingSeqs(t)).toEqual([4]);
    });

    it('countPending counts unacked, unexpired, uncollapsed messages', async () => {
      const t = tid();
      await append(msg(t));
      await append(msg(t, { ttlSeconds: 2 }));
      await append(msg(t, { collapseKey: 'c' }));
      await append(msg(t, { collapseKey: 'c' }));
      await append(msg(t));
      expect(await store.countPending(t, clock.now())).toBe(4);
      await store.ack(t, 1);
      expect(await store.countPending(t, clock.now())).toBe(3);
      await travel(3_000);
      expect(await store.countPending(t, clock.now())).toBe(2);
    });

    it('200 concurrent appends get distinct, contiguous seqs', async () => {
      const t = tid();
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => append(msg(t, { payload: `{"i":${i}}` }))));
      const seqs = results.map((r) => r.message.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
      const pend = await store.pending(t, { limit: 500, now: clock.now() });
      expect(pend.map((m) => m.seq)).toEqual(seqs);
      // each seq carries the payload its append was told about
      const bySeq = new Map(results.map((r) => [r.message.seq, r.message.payload]));
      for (const m of pend) expect(m.payload).toBe(bySeq.get(m.seq));
    });

    it('pending() never skips a seq whose append is still in flight: every snapshot during concurrent appends is gap-free', async () => {
      // DESIGN.md 2.2/2.3: the engine acks cumulatively, so a snapshot [1, 3] (2 still being
      // written) would get 2 acked away unseen. No seq here is collapsed, expired or failed,
      // so every snapshot must be exactly 1..k.
      const t = tid();
      let done = false;
      const writes = Promise.all(Array.from({ length: 60 }, () => append(msg(t)))).finally(() => (done = true));
      let snapshots = 0;
      for (; !done && snapshots < 500; snapshots++) {
        const seqs = await pendingSeqs(t);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      }
      await writes;
      expect(await pendingSeqs(t)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    });

    it('final gaps (ttl 0, collapsed, expired) never hold back later messages', async () => {
      // Only a gap that could still be filled may stop pending(); these are final at once.
      const t = tid();
      await append(msg(t, { ttlSeconds: 5 })); // 1: expires
      await append(msg(t, { collapseKey: 'k' })); // 2: collapsed by 4
      await append(msg(t, { ttlSeconds: 0 })); // 3: never pending
      await append(msg(t, { collapseKey: 'k' })); // 4
      await travel(6_000);
      const r = await append(msg(t)); // 5, appended right now
      expect(await pendingSeqs(t)).toEqual([4, r.message.seq]);
      expect(await store.countPending(t, clock.now())).toBe(2);
      expect(await store.ack(t, 5)).toEqual({ lastAckedSeq: 5, advanced: true });
      expect(await pendingSeqs(t)).toEqual([]);
    });

    it('terminals are isolated', async () => {
      const a = tid('a');
      const b = tid('b');
      await append(msg(a));
      await append(msg(a));
      expect((await append(msg(b))).message.seq).toBe(1);
      await store.ack(a, 2);
      expect(await pendingSeqs(a)).toEqual([]);
      expect(await pendingSeqs(b)).toEqual([1]);
      expect(await store.state(b)).toMatchObject({ lastSeq: 1, lastAckedSeq: 0 });
      expect((await store.pending(b, { limit: 10, now: clock.now() }))[0]!.terminalId).toBe(b);
    });

    it('the epoch is stable across calls', async () => {
      const t = tid();
      const before = (await store.state(t)).epoch;
      const r1 = await append(msg(t));
      const r2 = await append(msg(t));
      await store.ack(t, 1);
      expect(r1.epoch).toBe(before);
      expect(r2.epoch).toBe(before);
      expect((await store.state(t)).epoch).toBe(before);
    });

    it('ping resolves on a healthy store', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('a lost counter starts a new epoch and new messages stay deliverable', async (ctx) => {
      if (!h.loseCounter) return ctx.skip(`${name} has no loseCounter hook`);
      const t = tid();
      for (let i = 0; i < 3; i++) await append(msg(t));
      await store.ack(t, 3);
      const oldEpoch = (await store.state(t)).epoch;
      await h.loseCounter(t);
      const r = await append(msg(t));
      expect(r.epoch).not.toBe(oldEpoch);
      const st = await store.state(t);
      expect(st.epoch).toBe(r.epoch);
      // the old cursor (3) must not hide the new message (invariant 2.3)
      expect(st.lastAckedSeq).toBeLessThan(r.message.seq);
      expect(await pendingSeqs(t)).toEqual([r.message.seq]);
      expect(await store.ack(t, r.message.seq)).toEqual({ lastAckedSeq: r.message.seq, advanced: true });
    });

    if (durable) it('data survives a restart', async () => {
      // Registered only for adapters declared durable; such an adapter must offer the hook.
      if (!h.restart) throw new Error(`${name} is declared durable but its harness has no restart hook`);
      const t = tid();
      const first = await append(msg(t, { idempotencyKey: 'idem', ttlSeconds: 600 }));
      await append(msg(t, { collapseKey: 'c', correlationId: 'corr' }));
      await append(msg(t));
      await store.ack(t, 1);
      const before = await store.state(t);
      const pendBefore = await store.pending(t, { limit: 10, now: clock.now() });
      store = await h.restart();
      expect(await store.state(t)).toEqual(before);
      expect(await store.pending(t, { limit: 10, now: clock.now() })).toEqual(pendBefore);
      const retry = await append(msg(t, { idempotencyKey: 'idem' }));
      expect(retry).toMatchObject({ duplicate: true, message: { seq: first.message.seq } });
      const c = await append(msg(t, { collapseKey: 'c' }));
      expect(c.message.seq).toBe(4);
      expect(c.collapsedSeq).toBe(2);
      expect(c.epoch).toBe(before.epoch);
      expect(await pendingSeqs(t)).toEqual([3, 4]);
    });
  });
}
