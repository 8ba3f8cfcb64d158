/**
 * Fleet fan-out, POST /v1/messages (docs/sender-api.md): one request, one copy per terminal
 * with its own seq, delivered like single sends; the whole request validated before anything
 * is stored; per-terminal results (202 / 207 / 503) so nothing reported accepted is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcmError } from '../../common/errors.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import type { AppendResult, NewMessage } from '../../gateway/ports/message-store.js';
import { MqttTerminal, startGateway, WsTerminal, type TestGateway } from './harness.js';

/** A store that refuses appends for the terminals named in `down` (a partial outage). */
class PartlyDownStore extends MemoryMessageStore {
  readonly down = new Set<string>();
  override async append(msg: NewMessage, now: number): Promise<AppendResult> {
    if (this.down.has(msg.terminalId)) throw new PcmError('PCM_ERR_STORE_UNAVAILABLE', `store refused ${msg.terminalId}`);
    return super.append(msg, now);
  }
}

describe('POST /v1/messages (fan-out)', () => {
  let t: TestGateway;
  const store = new PartlyDownStore();
  beforeAll(async () => {
    t = await startGateway({ store, mqtt: true });
  });
  afterAll(async () => {
    await t.close();
  });

  it('stores one copy per terminal, answers per terminal in order, delivers to WS and MQTT now and to the offline one later', async () => {
    const ws = await WsTerminal.open(t, 'fan-ws');
    const mq = await MqttTerminal.open(`mqtt://127.0.0.1:${t.mqttPort}`, 'fan-mq', await t.token('fan-mq'));
    try {
      await t.send('fan-ws', { payload: { before: true } }); // fan-ws already has seq 1
      await ws.waitMessages(1);
      const r = await t.post('/v1/messages', { terminalIds: ['fan-ws', 'fan-mq', 'fan-off'], payload: { price: 42 }, ttlSeconds: 600 });
      expect(r.status).toBe(202);
      expect(r.body.accepted).toBe(3);
      expect(r.body.failed).toBe(0);
      expect(r.body.results.map((x: any) => [x.terminalId, x.seq, x.status])).toEqual([
        ['fan-ws', 2, 'queued'],
        ['fan-mq', 1, 'queued'],
        ['fan-off', 1, 'queued'],
      ]);
      expect(new Set(r.body.results.map((x: any) => x.messageId)).size).toBe(3);
      const [, second] = await ws.waitMessages(2);
      expect(second).toMatchObject({ seq: 2, payload: { price: 42 } });
      await mq.waitMessages(1);
      expect(mq.messages[0]).toMatchObject({ seq: 1, payload: { price: 42 } });
      const off = await WsTerminal.open(t, 'fan-off');
      const [m] = await off.waitMessages(1);
      expect(m).toMatchObject({ seq: 1, payload: { price: 42 } });
      await off.close();
    } finally {
      await ws.close();
      mq.client.end(true);
    }
  });

  it('a retry with the same idempotencyKey returns the first results and stores nothing twice', async () => {
    const body = { terminalIds: ['idem-a', 'idem-b'], payload: 'x', idempotencyKey: 'batch-7' };
    const first = await t.post('/v1/messages', body);
    const again = await t.post('/v1/messages', body);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.results).toEqual(first.body.results);
    expect((await t.get('/v1/terminals/idem-a')).body.pending).toBe(1);
    expect((await t.get('/v1/terminals/idem-b')).body.pending).toBe(1);
  });

  it.each([
    ['a duplicate id', { terminalIds: ['dup-1', 'dup-2', 'dup-1'], payload: 1 }, 400, 'PCM_ERR_BAD_REQUEST', /terminalIds\[2\].*twice/],
    ['a bad id', { terminalIds: ['ok-1', 'bad id!'], payload: 1 }, 400, 'PCM_ERR_INVALID_TERMINAL_ID', /terminalIds\[1\]/],
    ['an empty list', { terminalIds: [], payload: 1 }, 400, 'PCM_ERR_BAD_REQUEST', /terminalIds/],
    ['1,001 ids', { terminalIds: Array.from({ length: 1001 }, (_, i) => `many-${i}`), payload: 1 }, 400, 'PCM_ERR_BAD_REQUEST', /terminalIds/],
    ['no payload', { terminalIds: ['np-1'] }, 400, 'PCM_ERR_BAD_REQUEST', /payload/],
    ['a bad ttl', { terminalIds: ['ttl-1'], payload: 1, ttlSeconds: -1 }, 400, 'PCM_ERR_INVALID_TTL', /ttlSeconds/],
    ['an oversized payload', { terminalIds: ['big-1'], payload: 'x'.repeat(70_000) }, 413, 'PCM_ERR_PAYLOAD_TOO_LARGE', /exceeds/],
  ])('%s: clear error, nothing stored', async (_what, body, status, code, message) => {
    const r = await t.post('/v1/messages', body);
    expect(r.status).toBe(status);
    expect(r.body.code).toBe(code);
    expect(r.body.message).toMatch(message);
    for (const id of (body as { terminalIds: string[] }).terminalIds.slice(0, 3)) {
      if (!/^[A-Za-z0-9._:-]+$/.test(id)) continue;
      expect((await t.get(`/v1/terminals/${id}`)).body.pending).toBe(0);
    }
  });

  it('wrong or missing API key: 401, nothing stored', async () => {
    expect((await t.post('/v1/messages', { terminalIds: ['auth-1'], payload: 1 }, 'wrong')).status).toBe(401);
    expect((await t.post('/v1/messages', { terminalIds: ['auth-1'], payload: 1 }, null)).status).toBe(401);
    expect((await t.get('/v1/terminals/auth-1')).body.pending).toBe(0);
  });

  it('a partial store outage: 207 with each failure named; all down: 503; what was reported accepted is stored', async () => {
    store.down.add('part-2');
    try {
      const r = await t.post('/v1/messages', { terminalIds: ['part-1', 'part-2', 'part-3'], payload: 'p' });
      expect(r.status).toBe(207);
      expect(r.body).toMatchObject({ accepted: 2, failed: 1 });
      expect(r.body.results[1]).toEqual({ terminalId: 'part-2', error: { code: 'PCM_ERR_STORE_UNAVAILABLE', message: expect.stringContaining('part-2') } });
      expect((await t.get('/v1/terminals/part-1')).body.pending).toBe(1);
      expect((await t.get('/v1/terminals/part-2')).body.pending).toBe(0);
      expect((await t.get('/v1/terminals/part-3')).body.pending).toBe(1);
      const none = await t.post('/v1/messages', { terminalIds: ['part-2'], payload: 'p' });
      expect(none.status).toBe(503);
      expect(none.body.code).toBe('PCM_ERR_STORE_UNAVAILABLE');
    } finally {
      store.down.clear();
    }
  });
});
