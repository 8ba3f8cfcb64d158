import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import couchbase from 'couchbase';
import { needService } from '../../services/env.js';

// Smoke test of the Couchbase test bed (issue 3, DESIGN.md section 6): CouchbaseMock from Maven
// Central, driven by the real couchbase 4.x Node SDK. Start it with
// `npm run services -- up couchbase`. It also pins down what the mock does NOT do (exists(),
// withExpiry), so the store adapter's author knows which SDK calls to avoid.
const svc = needService('couchbase', [
  'PCM_TEST_COUCHBASE_CONNSTR',
  'PCM_TEST_COUCHBASE_BUCKET',
  'PCM_TEST_COUCHBASE_USERNAME',
  'PCM_TEST_COUCHBASE_PASSWORD',
  'PCM_TEST_COUCHBASE_MOCK_URL',
]);

/** Moves the mock's clock by `seconds` (cumulative, process-wide; negative moves it back). */
async function timeTravel(seconds: number): Promise<void> {
  const res = await fetch(`${svc!.PCM_TEST_COUCHBASE_MOCK_URL}/mock/TIME_TRAVEL?Offset=${seconds}`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ status: 'ok' });
}

describe.skipIf(!svc)('couchbase test bed (CouchbaseMock)', () => {
  let cluster: couchbase.Cluster;
  let coll: couchbase.Collection;
  // Unique keys: the mock is shared by every test file of the run.
  const key = (name: string) => `pcm-smoke-${name}-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    cluster = await couchbase.connect(svc!.PCM_TEST_COUCHBASE_CONNSTR!, {
      username: svc!.PCM_TEST_COUCHBASE_USERNAME!,
      password: svc!.PCM_TEST_COUCHBASE_PASSWORD!,
    });
    coll = cluster.bucket(svc!.PCM_TEST_COUCHBASE_BUCKET!).defaultCollection();
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('upserts and gets a JSON document; insert and stale-CAS replace are rejected', async () => {
    const k = key('doc');
    const put = await coll.upsert(k, { terminal: 't1', seq: 1 });
    const got = await coll.get(k);
    expect(got.content).toEqual({ terminal: 't1', seq: 1 });
    expect(got.cas.toString()).toBe(put.cas.toString());
    await expect(coll.insert(k, {})).rejects.toBeInstanceOf(couchbase.DocumentExistsError);
    await coll.replace(k, { terminal: 't1', seq: 2 }, { cas: got.cas });
    await expect(coll.replace(k, { seq: 3 }, { cas: got.cas })).rejects.toBeInstanceOf(couchbase.CasMismatchError);
    await coll.remove(k);
    await expect(coll.get(k)).rejects.toBeInstanceOf(couchbase.DocumentNotFoundError);
  });

  it('expires a document when the mock travels past its expiry', async () => {
    const k = key('ttl');
    const keep = key('keep');
    // Small jumps, undone at once: the mock's clock is shared with every other test file
    // running at the same time (the store contract tests travel too).
    await coll.upsert(k, { v: 1 }, { expiry: 5 });
    await coll.upsert(keep, { v: 2 });
    expect((await coll.get(k)).content).toEqual({ v: 1 });
    await timeTravel(6);
    try {
      await expect(coll.get(k)).rejects.toBeInstanceOf(couchbase.DocumentNotFoundError);
      expect((await coll.get(keep)).content).toEqual({ v: 2 });
    } finally {
      await timeTravel(-6);
    }
  });

  it('touch extends the expiry', async () => {
    const k = key('touch');
    await coll.upsert(k, 'x', { expiry: 5 });
    await coll.touch(k, 100);
    await timeTravel(6);
    try {
      expect((await coll.get(k)).content).toBe('x');
    } finally {
      await timeTravel(-6);
    }
  });

  it('increments and decrements a counter', async () => {
    const k = key('ctr');
    expect((await coll.binary().increment(k, 1, { initial: 1 })).value).toBe(1);
    expect((await coll.binary().increment(k, 5)).value).toBe(6);
    expect((await coll.binary().decrement(k, 2)).value).toBe(4);
  });

  it('does sub-document lookupIn and mutateIn', async () => {
    const k = key('subdoc');
    await coll.upsert(k, { a: { b: 1 }, list: [1] });
    const look = await coll.lookupIn(k, [couchbase.LookupInSpec.get('a.b'), couchbase.LookupInSpec.exists('list')]);
    expect(look.content[0]!.value).toBe(1);
    expect(look.content[1]!.value).toBe(true);
    const mut = await coll.mutateIn(k, [
      couchbase.MutateInSpec.upsert('a.c', 2),
      couchbase.MutateInSpec.arrayAppend('list', 2),
      couchbase.MutateInSpec.increment('a.b', 3),
    ]);
    expect(mut.content[2]!.value).toBe(4);
    expect((await coll.get(k)).content).toEqual({ a: { b: 4, c: 2 }, list: [1, 2] });
  });

  it('documents the mock gaps: exists() is unsupported, withExpiry yields no time', async () => {
    // If a newer mock fixes these, this test fails and docs/testing.md must be updated.
    const k = key('gaps');
    await coll.upsert(k, 1, { expiry: 60 });
    await expect(coll.exists(k)).rejects.toBeInstanceOf(couchbase.UnsupportedOperationError);
    const got = await coll.get(k, { withExpiry: true });
    expect(got.expiryTime ?? null).toBeNull();
  });
});
