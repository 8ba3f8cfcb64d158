/**
 * Per-terminal queue limit (PCM_MAX_PENDING_PER_TERMINAL, docs/sender-api.md) through the real
 * sender API on the durable SQLite store: a terminal holding the limit gets no more messages
 * (429 PCM_ERR_QUEUE_FULL, nothing stored), single sends, fan-out copies and requests alike;
 * once it connects and acks, sends are accepted again and it receives everything accepted, in
 * order, and nothing refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, WsTerminal, type TestGateway } from './harness.js';

describe('per-terminal queue limit (sqlite store)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ sqlite: true, config: { maxPendingPerTerminal: 3 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses the send beyond the limit with 429 PCM_ERR_QUEUE_FULL and stores nothing; acks make room; the terminal gets exactly what was accepted', async () => {
    const id = 'ql-single';
    for (let i = 1; i <= 3; i++) expect((await t.send(id, { payload: { n: i } })).status).toBe(202);
    const r = await t.send(id, { payload: { n: 'refused' } });
    expect(r.status).toBe(429);
    expect(r.body).toEqual({ code: 'PCM_ERR_QUEUE_FULL', message: expect.stringMatching(new RegExp(`terminal ${id} already holds 3 pending messages \\(limit 3`)) });
    expect(r.headers.get('retry-after')).toBeNull(); // not a rate limit: nothing to wait out but the terminal
    const presence = await t.get(`/v1/terminals/${id}`);
    expect(presence.body).toMatchObject({ pending: 3, lastAckedSeq: 0 });

    const term = await WsTerminal.open(t, id);
    try {
      const got = await term.waitMessages(3);
      expect(got.map((m) => m.payload.n)).toEqual([1, 2, 3]);
      term.ack(3);
      // the ack is stored asynchronously: the next send is accepted once it landed
      const deadline = Date.now() + 3000;
      let again;
      do again = await t.send(id, { payload: { n: 4 } });
      while (again.status === 429 && Date.now() < deadline);
      expect(again.status).toBe(202);
      expect(again.body.seq).toBe(4); // the refused send took no seq
      const [, , , fourth] = await term.waitMessages(4);
      expect(fourth).toMatchObject({ seq: 4, payload: { n: 4 } });
      expect(term.frames.filter((f) => f.type === 'message').map((m) => m.payload.n)).toEqual([1, 2, 3, 4]);
    } finally {
      await term.close();
    }
  });

  it('a retry of a send stored before the queue filled gets its first result (idempotency key); a new key is refused', async () => {
    const id = 'ql-idem';
    expect((await t.send(id, { payload: 1 })).status).toBe(202);
    expect((await t.send(id, { payload: 2 })).status).toBe(202);
    const first = await t.send(id, { payload: 3, idempotencyKey: 'order-3' });
    expect(first.status).toBe(202);
    const retry = await t.send(id, { payload: 3, idempotencyKey: 'order-3' });
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual(first.body);
    const other = await t.send(id, { payload: 4, idempotencyKey: 'order-4' });
    expect(other.status).toBe(429);
    expect(other.body.code).toBe('PCM_ERR_QUEUE_FULL');
    expect((await t.get(`/v1/terminals/${id}`)).body.pending).toBe(3);
  });

  it('fan-out: a full terminal fails its own copy (207, code per terminal); the others are stored', async () => {
    for (let i = 0; i < 3; i++) expect((await t.send('ql-fan-full', { payload: i })).status).toBe(202);
    const r = await t.post('/v1/messages', { terminalIds: ['ql-fan-ok', 'ql-fan-full'], payload: { fleet: true } });
    expect(r.status).toBe(207);
    expect(r.body).toMatchObject({ accepted: 1, failed: 1 });
    expect(r.body.results[0]).toMatchObject({ terminalId: 'ql-fan-ok', seq: 1, status: 'queued' });
    expect(r.body.results[1]).toMatchObject({ terminalId: 'ql-fan-full', error: { code: 'PCM_ERR_QUEUE_FULL' } });
    expect((await t.get('/v1/terminals/ql-fan-full')).body.pending).toBe(3);
    const all = await t.post('/v1/messages', { terminalIds: ['ql-fan-full'], payload: 1 });
    expect(all.status).toBe(429); // every copy refused: the plain error answer
    expect(all.body.code).toBe('PCM_ERR_QUEUE_FULL');
  });

  it('a request to a full terminal is refused at once instead of waiting behind the queue', async () => {
    for (let i = 0; i < 3; i++) expect((await t.send('ql-req', { payload: i })).status).toBe(202);
    const started = Date.now();
    const r = await t.post('/v1/terminals/ql-req/requests', { payload: { ping: 1 }, timeoutMs: 5000 });
    expect(r.status).toBe(429);
    expect(r.body.code).toBe('PCM_ERR_QUEUE_FULL');
    expect(Date.now() - started).toBeLessThan(4000);
    expect((await t.get('/v1/terminals/ql-req')).body.pending).toBe(3);
  });

  it('counts refusals in pcm_messages_refused_queue_full_total and by code in pcm_messages_rejected_total', async () => {
    const metrics = await t.get('/metrics');
    const refused = Number(/^pcm_messages_refused_queue_full_total (\d+)/m.exec(metrics.body)?.[1]);
    expect(refused).toBeGreaterThanOrEqual(4); // single, fan-out copy, whole fan-out, request
    expect(metrics.body).toMatch(/pcm_messages_rejected_total\{code="PCM_ERR_QUEUE_FULL"\} [1-9]/);
  });
});
