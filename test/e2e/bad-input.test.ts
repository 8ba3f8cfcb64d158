import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { startGateway, WsTerminal, sleep, type TestGateway } from './harness.js';

/**
 * The bad-input table (issue 2, Tests): every case gets its clear error (stable PCM_ERR_*
 * code) AND changes nothing: the queue state is compared before and after, and the terminal
 * still works afterwards.
 */
describe('bad input changes nothing (e2e)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ config: { maxPayloadBytes: 1024, deliveryWindow: 2, maxTtlSeconds: 3600 }, mqtt: false });
  });
  afterAll(async () => {
    await t.close();
  });

  const state = async (id: string) => (await t.get(`/v1/terminals/${id}`)).body as { pending: number; lastAckedSeq: number };

  describe('terminal frames (WebSocket)', () => {
    let term: WsTerminal;
    const id = 'bad-frames';
    beforeAll(async () => {
      for (let i = 1; i <= 3; i++) await t.send(id, { payload: { i } });
      term = await WsTerminal.open(t, id);
      await term.waitMessages(2); // window 2: seq 3 is stored but not sent yet
    });
    afterAll(async () => {
      await term.close();
    });

    const cases: Array<[string, string | (() => string), string]> = [
      ['malformed JSON', '{"type":"ack",', 'PCM_ERR_BAD_REQUEST'],
      ['not an object', '[1,2]', 'PCM_ERR_BAD_REQUEST'],
      ['unknown frame type', '{"type":"subscribe","topic":"#"}', 'PCM_ERR_UNKNOWN_FRAME'],
      ['ack without a seq', '{"type":"ack"}', 'PCM_ERR_BAD_REQUEST'],
      ['ack for a seq never sent (beyond the counter)', '{"type":"ack","seq":99}', 'PCM_ERR_INVALID_ACK'],
      ['ack for a stored seq not sent yet (outside the window)', '{"type":"ack","seq":3}', 'PCM_ERR_INVALID_ACK'],
      ['reply for an unknown correlation id', '{"type":"reply","correlationId":"nope@gw-0","payload":1}', 'PCM_ERR_UNKNOWN_CORRELATION'],
      ['reply without a correlation id', '{"type":"reply","payload":1}', 'PCM_ERR_BAD_REQUEST'],
    ];
    for (const [name, frame, code] of cases) {
      it(`${name} -> error frame ${code}, connection open, state unchanged`, async () => {
        const before = await state(id);
        const errorsBefore = term.frames.filter((f) => f.type === 'error').length;
        term.sendRaw(typeof frame === 'string' ? frame : frame());
        const err = await term.next('error');
        expect(err.code).toBe(code);
        expect(err.message.length).toBeGreaterThan(10);
        expect(term.frames.filter((f) => f.type === 'error').length).toBe(errorsBefore + 1);
        await sleep(20);
        expect(term.closed).toBeUndefined();
        expect(await state(id)).toEqual(before);
        expect(term.messages().map((m) => m.seq)).toEqual([1, 2]);
      });
    }

    it('binary frame -> PCM_ERR_BAD_REQUEST, state unchanged', async () => {
      const before = await state(id);
      term.sendRaw(Buffer.from('{"type":"ack","seq":1}'));
      expect((await term.next('error')).code).toBe('PCM_ERR_BAD_REQUEST');
      expect(await state(id)).toEqual(before);
    });

    it('after all that, a valid ack still works and the drain continues', async () => {
      term.ack(2);
      const msgs = await term.waitMessages(3);
      expect(msgs.map((m) => m.seq)).toEqual([1, 2, 3]);
      expect(await state(id)).toMatchObject({ lastAckedSeq: 2, pending: 1 });
    });

    it('oversized frame -> PCM_ERR_FRAME_TOO_LARGE and close 1009; the queue is untouched', async () => {
      const big = await WsTerminal.open(t, 'bad-big');
      await t.send('bad-big', { payload: 'x' });
      await big.waitMessages(1);
      const before = await state('bad-big');
      big.sendRaw(JSON.stringify({ type: 'reply', correlationId: 'c', payload: 'y'.repeat(200_000) }));
      const err = await big.next('error');
      expect(err.code).toBe('PCM_ERR_FRAME_TOO_LARGE');
      expect((await big.waitClosed()).code).toBe(1009);
      const after = await state('bad-big');
      expect({ pending: after.pending, lastAckedSeq: after.lastAckedSeq }).toEqual({ pending: before.pending, lastAckedSeq: before.lastAckedSeq });
    });

    it('frame beyond the WebSocket maxPayload -> close 1009 by the transport', async () => {
      const huge = await WsTerminal.open(t, 'bad-huge');
      huge.sendRaw('z'.repeat(2_000_000));
      expect((await huge.waitClosed()).code).toBe(1009);
    });
  });

  describe('terminal tokens (WebSocket upgrade)', () => {
    const wrongSecret = 'another-secret-of-enough-length';
    const cases: Array<[string, () => Promise<string | undefined>, string]> = [
      ['missing token', async () => undefined, 'PCM_ERR_UNAUTHORIZED'],
      ['garbage token', async () => 'not.a.jwt', 'PCM_ERR_UNAUTHORIZED'],
      ['token signed with another secret', () => mintTerminalToken(wrongSecret, 'tok-1'), 'PCM_ERR_UNAUTHORIZED'],
      ['expired token', () => mintTerminalToken(t.secret, 'tok-1', -10), 'PCM_ERR_TOKEN_EXPIRED'],
      ['token whose sub is not a valid terminal id', () => mintTerminalToken(t.secret, 'bad/sub'), 'PCM_ERR_UNAUTHORIZED'],
      ['token without exp', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('tok-1').sign(new TextEncoder().encode(t.secret)), 'PCM_ERR_UNAUTHORIZED'],
    ];
    for (const [name, make, code] of cases) {
      it(`${name} -> HTTP 401 ${code}, no session`, async () => {
        const token = await make();
        const err = (await WsTerminal.open(t, 'tok-1', token === undefined ? { token: '' } : { token }).then(
          () => undefined,
          (e: unknown) => e,
        )) as { status: number; body: { code: string } } | undefined;
        expect(err?.status).toBe(401);
        expect(err?.body.code).toBe(code);
        expect((await t.get('/v1/terminals/tok-1')).body.online).toBe(false);
      });
    }
  });

  describe('sender API', () => {
    const id = 'bad-sender';
    const cases: Array<[string, () => Promise<{ status: number; body: any }>, number, string]> = [
      ['missing API key', () => t.send(id, { payload: 1 }, null), 401, 'PCM_ERR_UNAUTHORIZED'],
      ['wrong API key', () => t.send(id, { payload: 1 }, 'wrong-key-123'), 401, 'PCM_ERR_UNAUTHORIZED'],
      ['payload over the limit', () => t.send(id, { payload: 'x'.repeat(1100) }), 413, 'PCM_ERR_PAYLOAD_TOO_LARGE'],
      ['body far over the limit', () => t.send(id, { payload: 'x'.repeat(10_000) }), 413, 'PCM_ERR_PAYLOAD_TOO_LARGE'],
      ['negative ttl', () => t.send(id, { payload: 1, ttlSeconds: -1 }), 400, 'PCM_ERR_INVALID_TTL'],
      ['fractional ttl', () => t.send(id, { payload: 1, ttlSeconds: 1.5 }), 400, 'PCM_ERR_INVALID_TTL'],
      ['ttl as a string', () => t.send(id, { payload: 1, ttlSeconds: '60' }), 400, 'PCM_ERR_INVALID_TTL'],
      ['ttl above the maximum', () => t.send(id, { payload: 1, ttlSeconds: 3601 }), 400, 'PCM_ERR_INVALID_TTL'],
      ['terminal id with a space', () => t.send('bad id', { payload: 1 }), 400, 'PCM_ERR_INVALID_TERMINAL_ID'],
      ['terminal id with a slash', () => t.send('bad/id', { payload: 1 }), 400, 'PCM_ERR_INVALID_TERMINAL_ID'],
      ['terminal id with an MQTT wildcard', () => t.send('bad+id', { payload: 1 }), 400, 'PCM_ERR_INVALID_TERMINAL_ID'],
      ['terminal id too long', () => t.send('a'.repeat(129), { payload: 1 }), 400, 'PCM_ERR_INVALID_TERMINAL_ID'],
      ['missing payload', () => t.send(id, { ttlSeconds: 5 }), 400, 'PCM_ERR_BAD_REQUEST'],
      ['body is not JSON', () => t.send(id, '{"payload":'), 400, 'PCM_ERR_BAD_REQUEST'],
      ['empty collapse key', () => t.send(id, { payload: 1, collapseKey: '' }), 400, 'PCM_ERR_BAD_REQUEST'],
      ['request timeout above 60 s', () => t.post(`/v1/terminals/${id}/requests`, { payload: 1, timeoutMs: 60_001 }), 400, 'PCM_ERR_BAD_REQUEST'],
      ['request to an invalid terminal id', () => t.post('/v1/terminals/bad%20id/requests', { payload: 1 }), 400, 'PCM_ERR_INVALID_TERMINAL_ID'],
      ['presence without an API key', () => t.get(`/v1/terminals/${id}`, null), 401, 'PCM_ERR_UNAUTHORIZED'],
      ['unknown route', () => t.get('/v1/nothing-here'), 404, 'PCM_ERR_NOT_FOUND'],
      // Router errors, before any route runs: fastify answered these itself with its own
      // {error, code: FST_*, statusCode} shape (and 414), found by schemathesis (issue 8).
      ['path parameter over the router limit (201 characters)', () => t.send('a'.repeat(201), { payload: 1 }), 400, 'PCM_ERR_BAD_REQUEST'],
      ['presence of a 600-character id', () => t.get(`/v1/terminals/${'a'.repeat(600)}`), 400, 'PCM_ERR_BAD_REQUEST'],
      ['malformed percent-encoding in the path', () => t.post('/v1/terminals/%ZZ/messages', { payload: 1 }), 400, 'PCM_ERR_BAD_REQUEST'],
      ['truncated UTF-8 percent-encoding in the path', () => t.get('/v1/terminals/%E0%A4%A'), 400, 'PCM_ERR_BAD_REQUEST'],
    ];
    for (const [name, run, status, code] of cases) {
      it(`${name} -> ${status} ${code}, nothing stored`, async () => {
        const before = await state(id);
        const res = await run();
        expect(res.status).toBe(status);
        expect(res.body).toEqual({ code, message: expect.any(String) });
        expect(res.body.message.length).toBeGreaterThan(5);
        expect(await state(id)).toEqual(before);
      });
    }

    it('and the counter did not move: the next good send gets seq 1', async () => {
      const res = await t.send(id, { payload: 'good' });
      expect(res.status).toBe(202);
      expect(res.body.seq).toBe(1);
    });
  });

  describe('limits and outages', () => {
    it('per-key rate limit -> 429 PCM_ERR_RATE_LIMITED with Retry-After; health endpoints are not limited', async () => {
      const r = await startGateway({ config: { rateLimitPerMinute: 3 }, mqtt: false });
      try {
        for (let i = 0; i < 3; i++) expect((await r.send('rl', { payload: i })).status).toBe(202);
        const limited = await r.send('rl', { payload: 'over' });
        expect(limited.status).toBe(429);
        expect(limited.body.code).toBe('PCM_ERR_RATE_LIMITED');
        expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
        expect((await r.get('/healthz')).status).toBe(200);
        // One budget per key across the sender API: presence is limited too.
        expect((await r.get('/v1/terminals/rl')).status).toBe(429);
      } finally {
        await r.close();
      }
    });

    it('store down -> 503 PCM_ERR_STORE_UNAVAILABLE on send, /readyz 503', async () => {
      const store = new MemoryMessageStore();
      const r = await startGateway({ store, mqtt: false });
      try {
        expect((await r.get('/readyz')).status).toBe(200);
        await store.close();
        const res = await r.send('down', { payload: 1 });
        expect(res.status).toBe(503);
        expect(res.body.code).toBe('PCM_ERR_STORE_UNAVAILABLE');
        const ready = await r.get('/readyz');
        expect(ready.status).toBe(503);
        expect(ready.body.code).toBe('PCM_ERR_STORE_UNAVAILABLE');
      } finally {
        await r.close();
      }
    });
  });
});
