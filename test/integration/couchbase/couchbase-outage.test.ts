import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcmError, isPcmError } from '../../../common/errors.js';
import { CouchbaseConnection } from '../../../gateway/adapters/couchbase/couchbase-connection.js';
import { CouchbaseMessageStore } from '../../../gateway/adapters/couchbase/couchbase-store.js';
import type { NewMessage, StoredMessage } from '../../../gateway/ports/message-store.js';
import { couchbaseTestBed } from './couchbase-env.js';
import { freePort, privateMockAvailable, startPrivateMock, type PrivateMock } from './private-mock.js';

const isUnavailable = (e: unknown) => isPcmError(e, 'PCM_ERR_STORE_UNAVAILABLE') && (e as PcmError).status === 503;
const msg = (terminalId: string, id: string, extra: Partial<NewMessage> = {}): NewMessage => ({
  terminalId,
  payload: JSON.stringify({ id, body: 'x'.repeat(200) }),
  ttlSeconds: 600,
  messageId: id,
  ...extra,
});
/** A visible message must be whole: the payload it was appended with, intact. */
const whole = (m: StoredMessage) => (JSON.parse(m.payload) as { id: string }).id === m.messageId;

async function untilHealthy(store: CouchbaseMessageStore, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await store.ping();
      await store.state(`warmup-${randomUUID().slice(0, 8)}`); // a write path too
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe.skipIf(!privateMockAvailable())('Couchbase store when the server stops (private CouchbaseMock)', () => {
  let mock: PrivateMock;
  let store: CouchbaseMessageStore;
  beforeAll(async () => {
    mock = await startPrivateMock();
    store = await CouchbaseMessageStore.connect({
      connectionString: mock.connectionString,
      bucket: 'pcm',
      username: 'Administrator',
      password: 'password',
      kvTimeoutMs: 1_000,
      opAttempts: 2,
    }, { idempotencyStaleMs: 1_500, idempotencyWaitMs: 4_000 });
    await untilHealthy(store, 30_000); // a fresh JVM on a busy machine: let it warm up first
  }, 90_000);
  afterAll(async () => {
    await store?.close();
    await mock?.stop();
  });

  it('answers PCM_ERR_STORE_UNAVAILABLE while stopped, shows nothing half-written, works again after restart', async () => {
    const t = `outage-${randomUUID().slice(0, 8)}`;
    const accepted: string[] = [];
    for (let i = 0; i < 10; i++) accepted.push((await store.append(msg(t, `before-${i}`, { collapseKey: i % 3 === 0 ? 'k' : undefined }), Date.now())).message.messageId);

    // "Stopped" = the process is frozen (SIGSTOP): connections stay open but nothing answers,
    // the hardest case for a client (a killed mock would lose its in-memory data).
    await mock.freeze();
    const failed: string[] = [];
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      const extra = i % 2 === 0 ? { idempotencyKey: `idem-${i}` } : { collapseKey: 'k' };
      const err = await store.append(msg(t, `during-${i}`, extra), Date.now()).then(
        (r) => ({ resolved: r }),
        (e: unknown) => e,
      );
      expect(err, `append during-${i} while the server is frozen`).toMatchObject({ code: 'PCM_ERR_STORE_UNAVAILABLE', status: 503 });
      expect(Date.now() - started).toBeLessThan(10_000); // bounded retries, not a hang
      failed.push(`during-${i}`);
    }
    const pingStarted = Date.now();
    await expect(store.ping()).rejects.toSatisfy(isUnavailable);
    expect(Date.now() - pingStarted).toBeLessThan(3_000); // /readyz answers fast

    mock.thaw();
    await untilHealthy(store, 20_000);
    for (let i = 0; i < 5; i++) accepted.push((await store.append(msg(t, `after-${i}`), Date.now())).message.messageId);
    // The sender's retry of a failed idempotent send: the dead attempt's key record (its
    // insert may have run after the resume) must not block it beyond the stale window.
    const retried = await store.append(msg(t, 'during-0-retry', { idempotencyKey: 'idem-0' }), Date.now());
    expect(retried.duplicate).toBe(false);
    accepted.push(retried.message.messageId);

    // A failed append may leave a seq its counter took but no document: pending() treats it
    // as a final gap only after gapGraceMs (it could be a slow append still writing), so read
    // as a reader would once the grace period has passed.
    const pend = await store.pending(t, { limit: 1000, now: Date.now() + store.gapGraceMs + 1 });
    const seqs = pend.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    for (const m of pend) expect(whole(m)).toBe(true);
    const visible = pend.map((m) => m.messageId);
    // every accepted message is there, in acceptance order, unless a newer one collapsed it
    const collapsedAway = new Set(['before-0', 'before-3', 'before-6']);
    const expected = accepted.filter((id) => !collapsedAway.has(id));
    expect(visible.filter((id) => !failed.includes(id))).toEqual(expected);
    // whatever a failed append left visible (the server may run a request it never answered)
    // is a whole message, never a torn one; and the queue still drains to the end
    const last = seqs[seqs.length - 1]!;
    await store.ack(t, last);
    expect(await store.countPending(t, Date.now())).toBe(0);
  }, 120_000);
});

describe('Couchbase connection failures', () => {
  it('connect to a port where nothing listens fails with PCM_ERR_STORE_UNAVAILABLE, bounded', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await CouchbaseMessageStore.connect({
      connectionString: `couchbase://127.0.0.1:${port}`,
      bucket: 'pcm',
      username: 'u',
      password: 'secret-password',
      connectTimeoutMs: 1_000,
      connectAttempts: 2,
    }).then(() => undefined, (e: unknown) => e);
    expect(isUnavailable(err)).toBe(true);
    expect((err as Error).message).not.toContain('secret-password');
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);
});

const bed = couchbaseTestBed();

describe.skipIf(!bed)('Couchbase append fails at each step (fault injection on the real mock)', () => {
  let conn: CouchbaseConnection;
  let store: CouchbaseMessageStore;
  let failAt: string | undefined;
  beforeAll(async () => {
    conn = await CouchbaseConnection.connect(bed!.config);
    // Fail the named KV step once, as a store dying at that moment would.
    const op = conn.op.bind(conn);
    conn.op = async <T>(what: string, fn: () => Promise<T>, opts?: { attempts?: number }): Promise<T> => {
      if (what === failAt) {
        failAt = undefined;
        throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `injected failure at "${what}"`);
      }
      return op(what, fn, opts);
    };
    store = new CouchbaseMessageStore(conn);
  });
  afterAll(async () => {
    await conn?.close();
  });

  // Steps before the message document is written: the append must fail and leave no message.
  for (const step of ['claim idempotency key', 'increment counter', 'read ctr', 'store message']) {
    it(`failure at "${step}" → 503, nothing visible, the next append works`, async () => {
      const t = `fault-${randomUUID().slice(0, 8)}`;
      await store.append(msg(t, 'first'), Date.now());
      failAt = step;
      await expect(store.append(msg(t, 'torn', { idempotencyKey: 'once' }), Date.now())).rejects.toSatisfy(isUnavailable);
      expect(failAt).toBeUndefined(); // the step was reached
      const after = await store.append(msg(t, 'after', { idempotencyKey: 'once' }), Date.now());
      expect(after.duplicate).toBe(false); // the failed attempt did not claim the key for good
      // Before the grace period a gap the failed append may have left stops the reader
      // (the seq could still be written); after it the gap is final.
      const early = (await store.pending(t, { limit: 10, now: Date.now() })).map((m) => m.messageId);
      expect(['first', 'after'].slice(0, early.length)).toEqual(early);
      expect(early[0]).toBe('first');
      const pend = await store.pending(t, { limit: 10, now: Date.now() + store.gapGraceMs + 1 });
      expect(pend.map((m) => m.messageId)).toEqual(['first', 'after']);
      expect(pend[1]!.seq).toBeGreaterThan(pend[0]!.seq);
    });
  }

  // Steps after the commit point: the message is stored, so the append must succeed.
  for (const step of ['swap collapse key', 'record idempotency result']) {
    it(`failure at "${step}" (after the commit point) still reports the stored message`, async () => {
      const t = `fault-${randomUUID().slice(0, 8)}`;
      await store.append(msg(t, 'first', { collapseKey: 'k' }), Date.now());
      failAt = step;
      const r = await store.append(msg(t, 'second', { collapseKey: 'k', idempotencyKey: 'i' }), Date.now());
      expect(failAt).toBeUndefined();
      expect(r.duplicate).toBe(false);
      const ids = (await store.pending(t, { limit: 10, now: Date.now() })).map((m) => m.messageId);
      expect(ids).toContain('second');
    });
  }
});
