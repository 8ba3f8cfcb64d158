import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, WsTerminal, sleep, waitUntil, type TestGateway } from './harness.js';

/** The WebSocket contract end to end (DESIGN.md sections 2 and 5) over real sockets. */
describe('WebSocket contract (e2e)', () => {
  let t: TestGateway;
  const open: WsTerminal[] = [];
  const connect = async (id: string, opts?: Parameters<typeof WsTerminal.open>[2]) => {
    const term = await WsTerminal.open(t, id, opts);
    open.push(term);
    return term;
  };

  beforeEach(async () => {
    t = await startGateway({ config: { heartbeatSeconds: 5 }, mqtt: false });
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close().catch(() => undefined);
    await t.close();
  });

  it('welcome, then a sent message arrives as a message frame and the ack moves the cursor', async () => {
    const term = await connect('term-1');
    const welcome = term.frames[0];
    expect(welcome).toMatchObject({ type: 'welcome', terminalId: 'term-1', heartbeatSeconds: 5, lastAckedSeq: 0 });
    expect(typeof welcome.sessionId).toBe('string');
    const res = await t.send('term-1', { payload: { amount: 42 }, ttlSeconds: 60 });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ terminalId: 'term-1', seq: 1, status: 'queued' });
    const [m] = await term.waitMessages(1);
    expect(m).toMatchObject({ type: 'message', seq: 1, messageId: res.body.messageId, payload: { amount: 42 } });
    expect(Date.parse(m.expiresAt) - Date.parse(m.createdAt)).toBe(60_000);
    expect(m.epoch).toBe(welcome.epoch);
    term.ack(1);
    let p = await t.get('/v1/terminals/term-1');
    for (let i = 0; i < 50 && p.body.lastAckedSeq !== 1; i++) {
      await sleep(10);
      p = await t.get('/v1/terminals/term-1');
    }
    expect(p.status).toBe(200);
    expect(p.body).toEqual({ terminalId: 'term-1', online: true, gatewayId: 'gw-0', protocol: 'websocket', pending: 0, lastAckedSeq: 1 });
  });

  it('/metrics counts sessions, accepted, delivered and acked messages and the send-to-deliver latency', async () => {
    const term = await connect('term-m');
    await t.send('term-m', { payload: 1 });
    await t.send('term-m', { payload: 2 });
    await term.waitMessages(2);
    term.ack(2);
    await sleep(50);
    const res = await fetch(`${t.base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^pcm_sessions\{protocol="websocket"\} 1$/m);
    expect(text).toMatch(/^pcm_messages_accepted_total 2$/m);
    expect(text).toMatch(/^pcm_messages_delivered_total\{protocol="websocket"\} 2$/m);
    expect(text).toMatch(/^pcm_messages_acked_total 2$/m);
    expect(text).toMatch(/^pcm_send_to_deliver_seconds_count\{protocol="websocket"\} 2$/m);
    expect((await t.get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await t.get('/readyz')).body).toMatchObject({ status: 'ready', store: 'memory' });
  });

  it('the token may come in ?access_token', async () => {
    const term = await connect('term-q', { query: true });
    expect(term.frames[0]).toMatchObject({ type: 'welcome', terminalId: 'term-q' });
  });

  it('offline, then reconnect: queued messages drain in order, unacked ones are redelivered', async () => {
    for (let i = 1; i <= 5; i++) expect((await t.send('term-2', { payload: { i } })).status).toBe(202);
    const p = await t.get('/v1/terminals/term-2');
    expect(p.body).toMatchObject({ online: false, pending: 5, lastAckedSeq: 0 });
    const a = await connect('term-2');
    const got = await a.waitMessages(5);
    expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(got.map((m) => m.payload.i)).toEqual([1, 2, 3, 4, 5]);
    a.ack(3);
    await sleep(50);
    await a.close();
    const b = await connect('term-2');
    expect(b.frames[0]).toMatchObject({ type: 'welcome', lastAckedSeq: 3 });
    const again = await b.waitMessages(2);
    expect(again.map((m) => m.seq)).toEqual([4, 5]);
    b.ack(5);
    await sleep(50);
    expect((await t.get('/v1/terminals/term-2')).body).toMatchObject({ pending: 0, lastAckedSeq: 5 });
  });

  it('live messages never overtake the drain, and the window bounds in-flight messages', async () => {
    await t.close();
    t = await startGateway({ config: { deliveryWindow: 4 }, mqtt: false });
    for (let i = 1; i <= 10; i++) await t.send('term-3', { payload: { i } });
    const term = await connect('term-3');
    await term.waitMessages(4);
    // Live sends while the drain is held back by the window.
    for (let i = 11; i <= 13; i++) await t.send('term-3', { payload: { i } });
    await sleep(100);
    expect(term.messages().map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    for (let acked = 4; acked < 13; ) {
      term.ack(acked);
      const want = Math.min(acked + 4, 13);
      await term.waitMessages(want);
      acked = want;
    }
    expect(term.messages().map((m) => m.seq)).toEqual([...Array(13).keys()].map((i) => i + 1));
  });

  it('expired messages are never delivered', async () => {
    await t.send('term-4', { payload: 'old', ttlSeconds: 1 });
    await t.send('term-4', { payload: 'fresh', ttlSeconds: 60 });
    await sleep(1100);
    const term = await connect('term-4');
    const [m] = await term.waitMessages(1);
    expect(m).toMatchObject({ seq: 2, payload: 'fresh' });
    await sleep(100);
    expect(term.messages()).toHaveLength(1);
  });

  it('ttlSeconds 0: delivered to a connected terminal ("sent"), dropped for an offline one ("dropped")', async () => {
    const off = await t.send('term-5', { payload: 'now-or-never', ttlSeconds: 0 });
    expect(off.body).toMatchObject({ status: 'dropped', seq: 1 });
    const term = await connect('term-5');
    await sleep(50);
    expect(term.messages()).toHaveLength(0);
    const on = await t.send('term-5', { payload: 'live', ttlSeconds: 0 });
    expect(on.body).toMatchObject({ status: 'sent', seq: 2 });
    const [m] = await term.waitMessages(1);
    expect(m).toMatchObject({ seq: 2, payload: 'live' });
  });

  it('collapse key: a newer message replaces an undelivered older one', async () => {
    await t.send('term-6', { payload: 'price v1', collapseKey: 'price' });
    await t.send('term-6', { payload: 'other' });
    await t.send('term-6', { payload: 'price v2', collapseKey: 'price' });
    const term = await connect('term-6');
    await term.waitMessages(2);
    await sleep(50);
    expect(term.messages().map((m) => [m.seq, m.payload])).toEqual([
      [2, 'other'],
      [3, 'price v2'],
    ]);
  });

  it('idempotency key: a retry returns the first result and stores nothing new', async () => {
    const a = await t.send('term-7', { payload: 'charge', idempotencyKey: 'k-1' });
    const b = await t.send('term-7', { payload: 'charge', idempotencyKey: 'k-1' });
    expect(b.status).toBe(202);
    expect(b.body).toEqual(a.body);
    expect((await t.get('/v1/terminals/term-7')).body.pending).toBe(1);
    const term = await connect('term-7');
    await term.waitMessages(1);
    await sleep(50);
    expect(term.messages()).toHaveLength(1);
  });

  it('request/reply: 200 with the reply; 504 when the terminal does not answer', async () => {
    const term = await connect('term-8');
    const pending = t.post('/v1/terminals/term-8/requests', { payload: { op: 'status' }, timeoutMs: 3000 });
    const [m] = await term.waitMessages(1);
    expect(m.correlationId).toEqual(expect.any(String));
    term.sendRaw(JSON.stringify({ type: 'reply', correlationId: m.correlationId, payload: { ok: true } }));
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ seq: m.seq, reply: { ok: true } });
    expect(res.body.latencyMs).toBeGreaterThanOrEqual(0);

    const started = Date.now();
    const timeout = await t.post('/v1/terminals/term-8/requests', { payload: 'ignored', timeoutMs: 300 });
    expect(timeout.status).toBe(504);
    expect(timeout.body.code).toBe('PCM_ERR_REQUEST_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('takeover: connecting again closes the older session with an error frame', async () => {
    const first = await connect('term-9');
    const second = await connect('term-9');
    const closed = await first.waitClosed();
    expect(closed.code).toBe(4409);
    expect(first.frames.find((f) => f.type === 'error')).toMatchObject({ code: 'PCM_ERR_SESSION_TAKEN_OVER' });
    await t.send('term-9', { payload: 'to the new one' });
    const [m] = await second.waitMessages(1);
    expect(m.payload).toBe('to the new one');
    expect(first.messages()).toHaveLength(0);
    expect(t.gw.engine.sessionCount()).toBe(1);
  });

  it('LRU cap: the least recently used terminal gets a drain frame before close', async () => {
    await t.close();
    t = await startGateway({ config: { maxSessions: 2, drainReconnectAfterMs: 1234 }, mqtt: false });
    const a = await connect('lru-a');
    const b = await connect('lru-b');
    // Activity on a (an ack) makes b the least recently used.
    await t.send('lru-a', { payload: 1 });
    await a.waitMessages(1);
    a.ack(1);
    await sleep(50);
    const c = await connect('lru-c');
    const closed = await b.waitClosed();
    expect(closed.code).toBe(1001);
    expect(b.frames.find((f) => f.type === 'drain')).toEqual({ type: 'drain', reconnectAfterMs: 1234, reason: 'session-limit' });
    expect(a.closed).toBeUndefined();
    expect(c.closed).toBeUndefined();
    expect(t.gw.engine.sessionCount()).toBe(2);
  });

  it('shutdown drains every session', async () => {
    const a = await connect('term-10');
    await t.close();
    const closed = await a.waitClosed();
    expect(closed.code).toBe(1001);
    expect(a.frames.find((f) => f.type === 'drain')).toMatchObject({ reason: 'shutdown' });
    t = await startGateway({ mqtt: false }); // for afterEach
  });

  it('a dead connection is closed after two missed heartbeats', async () => {
    await t.close();
    t = await startGateway({ config: { heartbeatSeconds: 1 }, mqtt: false });
    const silent = await connect('term-11', { autoPong: false });
    const alive = await connect('term-12');
    const started = Date.now();
    await silent.waitClosed(8000);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(6000); // 3 beats nominal; generous for a loaded machine
    expect(alive.closed).toBeUndefined();
    await waitUntil(() => t.gw.engine.sessionCount() === 1, 1000, 'the dead session to be removed');
  });
});
