import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DocumentNotFoundError } from 'couchbase';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CouchbaseConnection } from '../../../gateway/adapters/couchbase/couchbase-connection.js';
import { keys } from '../../../gateway/adapters/couchbase/couchbase-keys.js';
import { CouchbaseMessageStore } from '../../../gateway/adapters/couchbase/couchbase-store.js';
import { isPcmError } from '../../../common/errors.js';
import { QueueLimit } from '../../../gateway/core/queue-limit.js';
import { DeliveryEngine } from '../../../gateway/core/engine.js';
import { MemorySessionDirectory } from '../../../gateway/adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../../../gateway/adapters/inprocess/inprocess-relay.js';
import { silentLogger } from '../../../common/logger.js';
import { couchbaseTestBed, mockTimeTravel } from './couchbase-env.js';

const run = promisify(execFile);
const bed = couchbaseTestBed();
const tid = (label: string) => `${label}-${randomUUID().slice(0, 12)}`;

describe.skipIf(!bed)('Couchbase MessageStore beyond the contract (CouchbaseMock)', () => {
  let conn: CouchbaseConnection;
  let store: CouchbaseMessageStore;
  beforeAll(async () => {
    conn = await CouchbaseConnection.connect(bed!.config);
    store = new CouchbaseMessageStore(conn);
  });
  afterAll(async () => {
    await conn?.close();
  });

  it('stores the KV shape of DESIGN.md section 4 and the server expires messages by their TTL', async () => {
    const t = tid('shape');
    const now = Date.now();
    const r = await store.append({ terminalId: t, payload: '{"a":1}', ttlSeconds: 5, messageId: 'm1' }, now);
    const msgDoc = await conn.collection.get(keys.message(t, 1));
    expect(msgDoc.content).toMatchObject({ t, s: 1, e: r.epoch, id: 'm1', p: '{"a":1}', x: now + 5000 });
    expect((await conn.collection.get(keys.counter(t))).content).toEqual({ epoch: r.epoch, seq: 1 });
    // Past its TTL the document stays (filtered out) for expiredRetentionSeconds, so readers
    // know its gap is final at once; after that the server removes it.
    const keep = 5 + 86_400;
    await mockTimeTravel(bed!.mockUrl, 6_000);
    try {
      expect((await conn.collection.get(keys.message(t, 1))).content).toMatchObject({ s: 1 });
      expect(await store.pending(t, { limit: 10, now: now + 6_000 })).toEqual([]);
      await mockTimeTravel(bed!.mockUrl, keep * 1000 - 6_000 + 1_000);
      await expect(conn.collection.get(keys.message(t, 1))).rejects.toBeInstanceOf(DocumentNotFoundError);
    } finally {
      await mockTimeTravel(bed!.mockUrl, -(keep * 1000 + 1_000)); // the mock's clock is shared by every test file
    }
    // the counter has no expiry: seqs keep counting
    expect((await store.append({ terminalId: t, payload: '{}', ttlSeconds: 60, messageId: 'm2' }, Date.now())).message.seq).toBe(2);
  });

  it('acks remove acked message documents and advance the cursor document', async () => {
    const t = tid('ackdocs');
    for (let i = 0; i < 4; i++) await store.append({ terminalId: t, payload: '{}', ttlSeconds: 600, messageId: `m${i}` }, Date.now());
    await store.ack(t, 3);
    for (const seq of [1, 2, 3]) await expect(conn.collection.get(keys.message(t, seq))).rejects.toBeInstanceOf(DocumentNotFoundError);
    expect((await conn.collection.get(keys.message(t, 4))).content).toMatchObject({ s: 4 });
    expect((await conn.collection.get(keys.cursor(t))).content).toMatchObject({ seq: 3 });
  });

  it('keeps terminals whose ids contain "::" apart, collapse keys included', async () => {
    // "a::b" + key "c" must not meet "a" + key "b::c": sender keys are hashed into the doc key
    const base = tid('colon');
    const t1 = `${base}::b`;
    const t2 = base;
    await store.append({ terminalId: t1, payload: '{"x":1}', ttlSeconds: 600, messageId: 'x1', collapseKey: 'c' }, Date.now());
    const r2 = await store.append({ terminalId: t2, payload: '{"x":2}', ttlSeconds: 600, messageId: 'x2', collapseKey: 'b::c' }, Date.now());
    expect(r2.collapsedSeq).toBeUndefined();
    expect((await store.pending(t1, { limit: 10, now: Date.now() })).map((m) => m.messageId)).toEqual(['x1']);
    expect((await store.pending(t2, { limit: 10, now: Date.now() })).map((m) => m.messageId)).toEqual(['x2']);
  });

  it('appends from two separate processes to one terminal never share a seq', async () => {
    const t = tid('twoproc');
    const worker = fileURLToPath(new URL('./append-worker.ts', import.meta.url));
    const perWorker = 150;
    const start = (label: string) =>
      run(process.execPath, ['--import', 'tsx', worker], {
        env: {
          ...process.env,
          PCM_WORKER_COUCHBASE: JSON.stringify(bed!.config),
          PCM_WORKER_TERMINAL: t,
          PCM_WORKER_LABEL: label,
          PCM_WORKER_COUNT: String(perWorker),
          PCM_WORKER_CONCURRENCY: '20',
        },
        timeout: 90_000,
      });
    const [a, b] = await Promise.all([start('A'), start('B')]);
    const seqsA = (JSON.parse(a.stdout) as { seqs: number[] }).seqs;
    const seqsB = (JSON.parse(b.stdout) as { seqs: number[] }).seqs;
    expect(seqsA).toHaveLength(perWorker);
    expect(seqsB).toHaveLength(perWorker);
    const all = [...seqsA, ...seqsB].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 2 * perWorker }, (_, i) => i + 1)); // disjoint and contiguous
    // and each seq holds the message of the process that was given it
    const pend = await store.pending(t, { limit: 1000, now: Date.now() });
    expect(pend.map((m) => m.seq)).toEqual(all);
    const owner = new Map<number, string>([...seqsA.map((s) => [s, 'A'] as const), ...seqsB.map((s) => [s, 'B'] as const)]);
    for (const m of pend) expect((JSON.parse(m.payload) as { label: string }).label).toBe(owner.get(m.seq));
  }, 120_000);

  it('the per-terminal queue limit (PCM_ERR_QUEUE_FULL) counts on Couchbase: refused at the limit, expired ones do not count, an ack makes room', async () => {
    const limit = new QueueLimit({ maxPending: 3, countReuseMs: 1_000 }, store);
    const send = async (t: string, now: number, ttlSeconds = 600) => {
      const full = limit.check(t, now);
      if (full) await full;
      const r = await store.append({ terminalId: t, payload: '{}', ttlSeconds, messageId: randomUUID() }, now);
      limit.appended(t, r.message.seq, r.epoch, r.collapsedSeq !== undefined);
      return r.message.seq;
    };
    const isFull = (err: unknown) => isPcmError(err, 'PCM_ERR_QUEUE_FULL');
    const t = tid('qlimit');
    const now = Date.now();
    for (let i = 0; i < 3; i++) await send(t, now);
    await expect(send(t, now)).rejects.toSatisfy(isFull);
    expect(await store.state(t)).toMatchObject({ lastSeq: 3 }); // the refused send took no seq
    await store.ack(t, 1);
    limit.acked(t, 1);
    expect(await send(t, now)).toBe(4);
    await expect(send(t, now)).rejects.toSatisfy(isFull);
    // short-lived messages: the bound (seq - cursor) says full, the exact count says otherwise
    const u = tid('qlimit-ttl');
    for (let i = 0; i < 3; i++) await send(u, now, 1);
    expect(await send(u, now + 5_000)).toBe(4);
  });

  it('a terminal with 10,000 pending messages drains completely in order', async () => {
    const t = tid('drain');
    const total = 10_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (next < total) {
          const i = next++;
          await store.append({ terminalId: t, payload: `{"i":${i}}`, ttlSeconds: 3600, messageId: `d${i}` }, Date.now());
        }
      }),
    );
    expect(await store.state(t)).toMatchObject({ lastSeq: total, lastAckedSeq: 0 });
    // drain like the delivery engine: a window of pending, ack its last seq, repeat
    let expected = 1;
    let pages = 0;
    for (; pages < 200; pages++) {
      const page = await store.pending(t, { limit: 250, now: Date.now() });
      if (page.length === 0) break;
      for (const m of page) expect(m.seq).toBe(expected++);
      await store.ack(t, page[page.length - 1]!.seq);
    }
    expect(expected - 1).toBe(total);
    expect(await store.countPending(t, Date.now())).toBe(0);
    expect(await store.state(t)).toMatchObject({ lastSeq: total, lastAckedSeq: total });
  }, 240_000);
});

describe.skipIf(!bed)('Couchbase append race: counter increment, then document write', () => {
  let conn: CouchbaseConnection;
  beforeAll(async () => {
    conn = await CouchbaseConnection.connect(bed!.config);
  });
  afterAll(async () => {
    await conn?.close();
  });
  const m = (t: string, id: string) => ({ terminalId: t, payload: '{}', ttlSeconds: 3600, messageId: id });
  /**
   * A store whose append of `seq` to a terminal whose id starts with `prefix` takes its counter,
   * then waits before writing the document until `release()`: an append in flight.
   */
  const heldWrite = (prefix: string, seq: number) => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    const store = new CouchbaseMessageStore(conn, {
      beforeMessageWrite: async (t, s) => {
        if (t.startsWith(prefix) && s === seq) {
          held = true;
          await gate;
        }
      },
    });
    const whenHeld = async () => {
      while (!held) await new Promise((r) => setTimeout(r, 5));
    };
    return { store, release, whenHeld };
  };

  it('pending() stops before a seq whose document is not written yet; it is delivered in order once written', async () => {
    const t = tid('race');
    const { store, release, whenHeld } = heldWrite(t, 2);
    await store.append(m(t, 'a'), Date.now());
    const slow = store.append(m(t, 'b'), Date.now()); // seq 2: counter taken, write held
    await whenHeld();
    await store.append(m(t, 'c'), Date.now()); // seq 3: written before 2
    await conn.collection.get(keys.message(t, 3)); // 3 is really visible in the bucket
    // The bug: a reader returned [1, 3]; a cumulative ack of 3 then lost 2.
    expect((await store.pending(t, { limit: 10, now: Date.now() })).map((x) => x.seq)).toEqual([1]);
    expect(await store.pending(t, { afterSeq: 1, limit: 10, now: Date.now() })).toEqual([]);
    release();
    await slow;
    expect((await store.pending(t, { limit: 10, now: Date.now() })).map((x) => x.messageId)).toEqual(['a', 'b', 'c']);
  });

  it('countPending reuses an exact count until an append, an ack or the first expiry, adds only new seqs after appends (not over a collapse), and never over a write in flight', async () => {
    const h = tid('count-held');
    const { store, release, whenHeld } = heldWrite(h, 2);
    const lookups = vi.spyOn(conn.collection, 'lookupIn');
    try {
      const t = tid('count-cache');
      const t0 = Date.now();
      await store.append({ ...m(t, 'a'), ttlSeconds: 60 }, t0);
      await store.append({ ...m(t, 'b'), ttlSeconds: 3600 }, t0);
      expect(await store.countPending(t, t0)).toBe(2);
      const afterFirst = lookups.mock.calls.length;
      expect(afterFirst).toBe(2);
      expect(await store.countPending(t, t0 + 1_000)).toBe(2);
      expect(lookups.mock.calls.length).toBe(afterFirst); // reused: nothing changed
      await store.append(m(t, 'c'), t0);
      const beforeAppendCount = lookups.mock.calls.length;
      expect(await store.countPending(t, t0 + 1_000)).toBe(3); // an append moved the counter
      expect(lookups.mock.calls.length - beforeAppendCount).toBe(1); // only the new seq was read
      await store.ack(t, 1);
      expect(await store.countPending(t, t0 + 1_000)).toBe(2); // an ack moved the cursor
      const beforeExpiry = lookups.mock.calls.length;
      expect(await store.countPending(t, t0 + 60_000)).toBe(2); // 'a' acked; 'b' and 'c' live for an hour
      expect(lookups.mock.calls.length).toBe(beforeExpiry);

      const u = tid('count-expiry');
      await store.append({ ...m(u, 'short'), ttlSeconds: 5 }, t0);
      await store.append({ ...m(u, 'long'), ttlSeconds: 3600 }, t0);
      expect(await store.countPending(u, t0)).toBe(2);
      expect(await store.countPending(u, t0 + 6_000)).toBe(1); // past the first expiry: counted again

      // a collapse tombstones the older message: the new seq alone would say 2, the exact count 1
      const v = tid('count-collapse');
      await store.append({ ...m(v, 'v1'), collapseKey: 'balance' }, t0);
      await store.append(m(v, 'v2'), t0);
      expect(await store.countPending(v, t0)).toBe(2);
      await store.append({ ...m(v, 'v3'), collapseKey: 'balance' }, t0);
      expect(await store.countPending(v, t0)).toBe(2); // v1 replaced by v3
      expect((await store.pending(v, { limit: 10, now: t0 })).map((x) => x.messageId)).toEqual(['v2', 'v3']);
      await store.append(m(v, 'v4'), t0);
      expect(await store.countPending(v, t0)).toBe(3);

      await store.append(m(h, 'x'), Date.now());
      const slow = store.append(m(h, 'y'), Date.now()); // seq 2: counter taken, write held
      await whenHeld();
      await store.append(m(h, 'z'), Date.now());
      expect(await store.countPending(h, Date.now())).toBe(2); // 2 not written yet
      release();
      await slow;
      expect(await store.countPending(h, Date.now())).toBe(3); // not a stale reuse
    } finally {
      lookups.mockRestore();
      release();
    }
  });

  it('an admin purge stops before a seq whose write is in flight: the message being accepted is kept and delivered', async () => {
    const t = tid('purge-race');
    const { store, release, whenHeld } = heldWrite(t, 3);
    const engine = new DeliveryEngine({ gatewayId: 'gw-purge', heartbeatSeconds: 30, maxSessions: 10 }, { store, directory: new MemorySessionDirectory(), relay: new InProcessRelayHub().bus({ logger: silentLogger }) });
    await store.append(m(t, 'a'), Date.now());
    await store.append(m(t, 'b'), Date.now());
    const slow = store.append(m(t, 'c'), Date.now()); // seq 3: counter taken, write held (its 202 not sent yet)
    await whenHeld();
    await store.append(m(t, 'd'), Date.now()); // seq 4: written before 3
    // the counter says 4, but purging past 3 would lose a message its sender is about to be told was accepted
    expect(await engine.purge(t)).toEqual({ terminalId: t, purged: 2, lastAckedSeq: 2 });
    release();
    await slow;
    expect((await store.pending(t, { limit: 10, now: Date.now() })).map((x) => x.messageId)).toEqual(['c', 'd']);
    expect(await engine.purge(t)).toEqual({ terminalId: t, purged: 2, lastAckedSeq: 4 });
    await engine.close();
  });

  it('an append that overruns its write budget gives up (503); its gap is skipped once gapGraceMs has passed', async () => {
    const t = tid('giveup');
    const store = new CouchbaseMessageStore(conn, {
      appendWriteBudgetMs: 1_000, // loose enough for the other appends on a loaded machine
      gapGraceMs: 3_000,
      beforeMessageWrite: async (_t, seq) => {
        if (seq === 2) await new Promise((r) => setTimeout(r, 1_200));
      },
    });
    await store.append(m(t, 'a'), Date.now());
    const failed = await store.append(m(t, 'b'), Date.now()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((failed as { code?: string }).code).toBe('PCM_ERR_STORE_UNAVAILABLE');
    await expect(conn.collection.get(keys.message(t, 2))).rejects.toBeInstanceOf(DocumentNotFoundError);
    const c = await store.append(m(t, 'c'), Date.now());
    expect(c.message.seq).toBe(3);
    const now = Date.now();
    expect((await store.pending(t, { limit: 10, now })).map((x) => x.seq)).toEqual([1]); // 2 may still be in flight
    expect((await store.pending(t, { limit: 10, now: now + 3_100 })).map((x) => x.seq)).toEqual([1, 3]); // now final
    // Ack safety: a document that turned up below the cursor later is never delivered.
    expect(await store.ack(t, 3)).toEqual({ lastAckedSeq: 3, advanced: true });
    await conn.collection.upsert(keys.message(t, 2), { t, s: 2, e: c.epoch, id: 'late', p: '{}', c: now, x: now + 3_600_000, g: now });
    expect(await store.pending(t, { limit: 10, now: now + 3_100 })).toEqual([]);
    expect(await store.countPending(t, now + 3_100)).toBe(0);
  });

  it('with PCM_COUCHBASE_DURABILITY=majority the mock refuses the write: 503, nothing visible (durability is untested against a server)', async () => {
    const durable = await CouchbaseConnection.connect({ ...bed!.config, durability: 'majority', opAttempts: 1 });
    try {
      const store = new CouchbaseMessageStore(durable);
      const t = tid('durable');
      const err = await store.append(m(t, 'a'), Date.now()).then(() => undefined, (e: unknown) => e);
      expect((err as { code?: string }).code).toBe('PCM_ERR_STORE_UNAVAILABLE');
      expect(await new CouchbaseMessageStore(conn).pending(t, { limit: 10, now: Date.now() + 60_000 })).toEqual([]);
    } finally {
      await durable.close();
    }
  });

  it('rejects a grace period that does not exceed the write budget', () => {
    expect(() => new CouchbaseMessageStore(conn, { appendWriteBudgetMs: 5_000, gapGraceMs: 5_000 })).toThrow(/gapGraceMs/);
  });
});

describe.skipIf(!bed)('connectCouchbaseStorage', () => {
  it('shares one connection; it stays open until both the store and the directory closed', async () => {
    const { connectCouchbaseStorage } = await import('../../../gateway/adapters/couchbase/couchbase-storage.js');
    const { store, directory } = await connectCouchbaseStorage(bed!.config);
    expect(store.conn).toBe(directory.conn);
    const t = tid('shared');
    await store.close();
    await store.close(); // idempotent: must not release the directory's share
    expect(store.conn.isClosed).toBe(false);
    const c = await directory.claim({ terminalId: t, gatewayId: 'g1', sessionId: 's', protocol: 'mqtt', connectedAt: Date.now() }, 10_000);
    expect((await directory.lookup(t))?.connectionEpoch).toBe(c.presence.connectionEpoch);
    await directory.close();
    expect(directory.conn.isClosed).toBe(true);
    await expect(directory.lookup(t)).rejects.toSatisfy((e: unknown) => (e as { code?: string }).code === 'PCM_ERR_STORE_UNAVAILABLE');
  });
});
