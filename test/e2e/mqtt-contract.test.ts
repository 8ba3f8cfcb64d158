import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqttTerminal, WsTerminal, sleep, startGateway, waitUntil, type TestGateway } from './harness.js';

/** The MQTT 3.1.1 contract end to end (DESIGN.md section 5) over TCP and over WebSocket. */
describe('MQTT contract (e2e)', () => {
  let t: TestGateway;
  let tcp: string;
  const open: MqttTerminal[] = [];
  const connect = async (id: string, opts?: Parameters<typeof MqttTerminal.open>[3], url = tcp) => {
    const term = await MqttTerminal.open(url, id, await t.token(id), opts);
    open.push(term);
    return term;
  };

  beforeAll(async () => {
    t = await startGateway({ config: { deliveryWindow: 8 } });
    tcp = `mqtt://127.0.0.1:${t.mqttPort}`;
  });
  afterAll(async () => {
    for (const o of open) o.client.end(true);
    await t.close();
  });

  const state = async (id: string) => (await t.get(`/v1/terminals/${id}`)).body;

  it('delivers on pcm/t/<id>/messages at QoS 1 with the WebSocket message JSON; ack on pcm/t/<id>/ack', async () => {
    const term = await connect('mq-1');
    await waitUntil(() => term.control.find((f) => f.type === 'welcome'), 3000, 'welcome on control');
    expect(term.control[0]).toMatchObject({ type: 'welcome', terminalId: 'mq-1' });
    let qos = -1;
    term.client.on('packetreceive', (p) => {
      if (p.cmd === 'publish' && p.topic === 'pcm/t/mq-1/messages') qos = p.qos;
    });
    const res = await t.send('mq-1', { payload: { hello: 'mqtt' } });
    const [m] = await term.waitMessages(1);
    expect(m).toEqual({ type: 'message', seq: res.body.seq, messageId: res.body.messageId, payload: { hello: 'mqtt' }, createdAt: expect.any(String), expiresAt: expect.any(String), epoch: expect.any(String) });
    expect(qos).toBe(1);
    expect(await state('mq-1')).toMatchObject({ online: true, protocol: 'mqtt', pending: 1 });
    await term.ack(m.seq);
    await sleep(50);
    expect(await state('mq-1')).toMatchObject({ pending: 0, lastAckedSeq: m.seq });
  });

  it('offline, then reconnect: messages drain in order', async () => {
    for (let i = 1; i <= 4; i++) await t.send('mq-2', { payload: i });
    const term = await connect('mq-2');
    const got = await term.waitMessages(4);
    expect(got.map((m) => m.payload)).toEqual([1, 2, 3, 4]);
    await term.ack(2);
    await sleep(50);
    await term.close();
    const again = await connect('mq-2');
    const redelivered = await again.waitMessages(2);
    expect(redelivered.map((m) => m.seq)).toEqual([3, 4]);
  });

  it('request/reply over MQTT', async () => {
    const term = await connect('mq-3');
    term.client.on('message', (topic, payload) => {
      const m = JSON.parse(payload.toString());
      if (topic.endsWith('/messages') && m.correlationId) void term.reply(m.correlationId, { echo: m.payload });
    });
    const res = await t.post('/v1/terminals/mq-3/requests', { payload: 'ping', timeoutMs: 3000 });
    expect(res.status).toBe(200);
    expect(res.body.reply).toEqual({ echo: 'ping' });
  });

  it('sessions are always clean: a clean=false client gets session-present 0 and only the ordered drain', async () => {
    const opts = { protocolVersion: 4 as const, clientId: 'mq-cs', username: 'mq-cs', password: await t.token('mq-cs'), clean: false, reconnectPeriod: 0 };
    const c1 = mqtt.connect(tcp, opts);
    const ack1 = await new Promise<{ sessionPresent: boolean }>((r) => c1.once('connect', r));
    expect(ack1.sessionPresent).toBe(false);
    const first: number[] = [];
    c1.on('message', (_t, p) => first.push(JSON.parse(p.toString()).seq));
    await c1.subscribeAsync('pcm/t/mq-cs/messages', { qos: 1 });
    for (let i = 1; i <= 3; i++) await t.send('mq-cs', { payload: i });
    await waitUntil(() => first.length >= 3, 3000, '3 messages');
    c1.end(true); // gone without acking anything
    await t.send('mq-cs', { payload: 4 });
    const c2 = mqtt.connect(tcp, opts);
    const ack2 = await new Promise<{ sessionPresent: boolean }>((r) => c2.once('connect', r));
    expect(ack2.sessionPresent).toBe(false);
    const second: number[] = [];
    c2.on('message', (_t, p) => second.push(JSON.parse(p.toString()).seq));
    await c2.subscribeAsync('pcm/t/mq-cs/messages', { qos: 1 });
    await waitUntil(() => second.length >= 4, 3000, '4 messages');
    await sleep(50);
    expect(second).toEqual([1, 2, 3, 4]);
    c2.end(true);
  });

  it('MQTT over WebSocket at /mqtt', async () => {
    const term = await connect('mq-ws', undefined, `ws://127.0.0.1:${t.httpPort}/mqtt`);
    await t.send('mq-ws', { payload: 'over ws' });
    const [m] = await term.waitMessages(1);
    expect(m.payload).toBe('over ws');
    expect(await state('mq-ws')).toMatchObject({ online: true, protocol: 'mqtt' });
  });

  it('a second connection with the same client id takes over; the old one gets nothing more', async () => {
    const a = await connect('mq-4');
    const aClosed = new Promise<void>((r) => a.client.once('close', () => r()));
    const b = await connect('mq-4');
    await aClosed;
    await t.send('mq-4', { payload: 'new' });
    await b.waitMessages(1);
    await sleep(50);
    expect(a.messages).toHaveLength(0);
    expect(b.messages.map((m) => m.payload)).toEqual(['new']);
  });

  it('a WebSocket session is taken over by an MQTT connection of the same terminal', async () => {
    const ws = await WsTerminal.open(t, 'mq-5');
    await connect('mq-5');
    expect((await ws.waitClosed()).code).toBe(4409);
    expect(await state('mq-5')).toMatchObject({ online: true, protocol: 'mqtt' });
  });

  it('session cap and shutdown: MQTT terminals get a drain frame on control before the close', async () => {
    const small = await startGateway({ config: { maxSessions: 1, drainReconnectAfterMs: 777 } });
    const url = `mqtt://127.0.0.1:${small.mqttPort}`;
    const first = await MqttTerminal.open(url, 'cap-1', await small.token('cap-1'));
    await waitUntil(() => first.control.find((f) => f.type === 'welcome'), 3000, 'welcome');
    const firstClosed = new Promise<void>((r) => first.client.once('close', () => r()));
    const second = await MqttTerminal.open(url, 'cap-2', await small.token('cap-2'));
    await firstClosed;
    expect(first.control.find((f) => f.type === 'drain')).toEqual({ type: 'drain', reconnectAfterMs: 777, reason: 'session-limit' });
    await waitUntil(() => second.control.find((f) => f.type === 'welcome'), 3000, 'welcome');
    const secondClosed = new Promise<void>((r) => second.client.once('close', () => r()));
    await small.close();
    await secondClosed;
    expect(second.control.find((f) => f.type === 'drain')).toMatchObject({ reason: 'shutdown' });
    first.client.end(true);
    second.client.end(true);
  });

  describe('refusals, each changing nothing', () => {
    const refused = async (opts: mqtt.IClientOptions) => {
      const c = mqtt.connect(tcp, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000, ...opts });
      try {
        return await new Promise<{ code?: number }>((resolve) => {
          c.once('connect', () => resolve({}));
          c.once('error', (e) => resolve({ code: (e as { code?: number }).code }));
        });
      } finally {
        c.end(true);
      }
    };

    it('wrong password (token signed with another secret) -> CONNACK 4', async () => {
      const { mintTerminalToken } = await import('../../protocol/token.js');
      const r = await refused({ clientId: 'mq-6', username: 'mq-6', password: await mintTerminalToken('some-other-secret-123', 'mq-6') });
      expect(r.code).toBe(4);
    });

    it('expired token -> CONNACK 4', async () => {
      const r = await refused({ clientId: 'mq-6', username: 'mq-6', password: await t.token('mq-6', -5) });
      expect(r.code).toBe(4);
    });

    it('client id differing from the token subject -> CONNACK 5', async () => {
      const r = await refused({ clientId: 'mq-other', username: 'mq-6', password: await t.token('mq-6') });
      expect(r.code).toBe(5);
    });

    it('username differing from the token subject -> CONNACK 5', async () => {
      const r = await refused({ clientId: 'mq-6', username: 'mq-other', password: await t.token('mq-6') });
      expect(r.code).toBe(5);
    });

    it('no password -> CONNACK 4', async () => {
      const r = await refused({ clientId: 'mq-6', username: 'mq-6' });
      expect(r.code).toBe(4);
    });

    it("subscribing to another terminal's topic or a wildcard -> SUBACK 0x80, and nothing leaks", async () => {
      const spy = await connect('mq-7', { subscribe: false });
      const suback = new Promise<number[]>((resolve) =>
        spy.client.on('packetreceive', (p) => {
          if (p.cmd === 'suback') resolve(p.granted as number[]);
        }),
      );
      spy.client.subscribe(['pcm/t/mq-8/messages', 'pcm/t/+/messages', '#', 'pcm/t/mq-7/ack'], { qos: 1 }, () => undefined);
      expect(await suback).toEqual([128, 128, 128, 128]);
      const victim = await connect('mq-8');
      await t.send('mq-8', { payload: 'secret' });
      await victim.waitMessages(1);
      await sleep(100);
      expect(spy.messages).toHaveLength(0);
    });

    it("publishing to another terminal's ack topic closes the connection and acks nothing", async () => {
      await t.send('mq-9', { payload: 'x' });
      const victim = await connect('mq-9');
      await victim.waitMessages(1);
      const before = await state('mq-9');
      const evil = await connect('mq-10');
      const closed = new Promise<void>((r) => evil.client.once('close', () => r()));
      evil.client.publish('pcm/t/mq-9/ack', JSON.stringify({ seq: 1 }), { qos: 1 });
      await closed;
      expect(await state('mq-9')).toEqual(before);
    });

    it('bad ack payloads and unknown correlations -> error frames on control; state unchanged', async () => {
      await t.send('mq-11', { payload: 'x' });
      const term = await connect('mq-11');
      await term.waitMessages(1);
      const before = await state('mq-11');
      const cases: Array<[string, string, string]> = [
        ['pcm/t/mq-11/ack', 'not json', 'PCM_ERR_BAD_REQUEST'],
        ['pcm/t/mq-11/ack', '{"seq":"1"}', 'PCM_ERR_BAD_REQUEST'],
        ['pcm/t/mq-11/ack', '{"seq":42}', 'PCM_ERR_INVALID_ACK'],
        ['pcm/t/mq-11/reply', '{"correlationId":"zzz","payload":1}', 'PCM_ERR_UNKNOWN_CORRELATION'],
      ];
      for (const [topic, payload, code] of cases) {
        const n = term.control.filter((f) => f.type === 'error').length;
        await term.client.publishAsync(topic, payload, { qos: 1 });
        const errs = await waitUntil(() => {
          const e = term.control.filter((f) => f.type === 'error');
          return e.length > n && e;
        }, 3000, `error frame for ${payload}`);
        expect(errs[errs.length - 1].code).toBe(code);
      }
      expect(term.client.connected).toBe(true);
      expect(await state('mq-11')).toEqual(before);
    });
  });
});
