/**
 * Terminal isolation (DESIGN.md section 5: "a terminal only ever sees and acks its own
 * messages"; issue 8: no terminal can subscribe, ack, reply or read presence for another).
 * Terminal A holds a valid token for itself and tries every way to reach terminal B,
 * over WebSocket and over MQTT; B's queue, cursor and requests must stay B's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { MqttTerminal, WsTerminal, sleep, startGateway, waitUntil, type TestGateway } from '../e2e/harness.js';

describe('no terminal can reach another terminal (issue 8)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway();
  });
  afterAll(() => t.close());

  const presence = async (id: string) => (await t.get(`/v1/terminals/${id}`)).body as { online: boolean; pending: number; lastAckedSeq: number };

  describe('over WebSocket', () => {
    it('acking another terminal\'s seq does not move its cursor', async () => {
      const b = 'iso-ws-b1';
      for (let i = 0; i < 3; i++) expect((await t.send(b, { payload: i })).status).toBe(202);
      const a = await WsTerminal.open(t, 'iso-ws-a1');
      a.ack(3);
      a.ack(1);
      const err = await a.next('error');
      expect(err.code).toBe('PCM_ERR_INVALID_ACK');
      await sleep(50);
      expect(await presence(b)).toMatchObject({ pending: 3, lastAckedSeq: 0 });
      // B still gets all three.
      const bt = await WsTerminal.open(t, b);
      expect((await bt.waitMessages(3)).map((m) => m.seq)).toEqual([1, 2, 3]);
      await Promise.all([a.close(), bt.close()]);
    });

    it('replying to another terminal\'s request is refused; the request is answered by its terminal only', async () => {
      const b = await WsTerminal.open(t, 'iso-ws-b2');
      const a = await WsTerminal.open(t, 'iso-ws-a2');
      const req = t.post('/v1/terminals/iso-ws-b2/requests', { payload: { q: 1 }, timeoutMs: 5000 });
      const [m] = await b.waitMessages(1);
      a.sendRaw(JSON.stringify({ type: 'reply', correlationId: m.correlationId, payload: 'forged' }));
      expect((await a.next('error')).code).toBe('PCM_ERR_UNKNOWN_CORRELATION');
      b.sendRaw(JSON.stringify({ type: 'reply', correlationId: m.correlationId, payload: 'genuine' }));
      const res = await req;
      expect(res.status).toBe(200);
      expect(res.body.reply).toBe('genuine');
      await Promise.all([a.close(), b.close()]);
    });

    it('the session is the token\'s subject: a hello naming another terminal, or B\'s token in the query next to A\'s header, gives no access to B', async () => {
      const bToken = await t.token('iso-ws-b3');
      const aToken = await t.token('iso-ws-a3');
      const ws = new WebSocket(`ws://127.0.0.1:${t.httpPort}/v1/connect?access_token=${bToken}`, { headers: { authorization: `Bearer ${aToken}` } });
      const frames: any[] = [];
      ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
      await waitUntil(() => frames.find((f) => f.type === 'welcome'), 3000, 'welcome');
      expect(frames[0].terminalId).toBe('iso-ws-a3');
      ws.send(JSON.stringify({ type: 'hello', terminalId: 'iso-ws-b3', lastSeq: 0 }));
      expect((await t.send('iso-ws-b3', { payload: 'for b only' })).status).toBe(202);
      await sleep(150);
      expect(frames.filter((f) => f.type === 'message')).toEqual([]);
      expect((await presence('iso-ws-b3')).online).toBe(false);
      ws.close();
    });

    it('an API key is not a terminal credential: /v1/connect refuses it', async () => {
      const err = (await WsTerminal.open(t, 'iso-ws-a4', { token: t.apiKey }).catch((e: unknown) => e)) as { status: number; body: { code: string } };
      expect(err.status).toBe(401);
      expect(err.body.code).toBe('PCM_ERR_UNAUTHORIZED');
    });
  });

  describe('presence and the sender API need an API key, not a terminal token', () => {
    it('a terminal token cannot read any terminal\'s presence, including its own', async () => {
      const aToken = await t.token('iso-p-a');
      for (const id of ['iso-p-b', 'iso-p-a']) {
        const r = await t.get(`/v1/terminals/${id}`, aToken);
        expect(r.status).toBe(401);
        expect(r.body.code).toBe('PCM_ERR_UNAUTHORIZED');
      }
      expect((await t.get('/v1/terminals/iso-p-b', null)).status).toBe(401);
    });

    it('a terminal token cannot send to or request from another terminal', async () => {
      const aToken = await t.token('iso-p-a');
      expect((await t.send('iso-p-b', { payload: 1 }, aToken)).status).toBe(401);
      expect((await t.post('/v1/terminals/iso-p-b/requests', { payload: 1, timeoutMs: 100 }, aToken)).status).toBe(401);
      expect((await presence('iso-p-b')).pending).toBe(0);
    });
  });

  describe('over MQTT', () => {
    const url = () => `mqtt://127.0.0.1:${t.mqttPort}`;

    it('subscribing to another terminal\'s topics or to wildcards gets SUBACK 0x80, and nothing of B arrives', async () => {
      const a = await MqttTerminal.open(url(), 'iso-m-a1', await t.token('iso-m-a1'));
      const topics = ['pcm/t/iso-m-b1/messages', 'pcm/t/iso-m-b1/control', 'pcm/t/iso-m-b1/ack', 'pcm/t/+/messages', 'pcm/t/#', 'pcm/#', '#', '+/+/+/+', '$SYS/#'];
      // mqtt.js 5 rejects a SUBACK holding 0x80 and carries the packet on the error.
      const err = (await a.client.subscribeAsync(topics, { qos: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      )) as { packet?: { granted: number[] } } | undefined;
      expect(err?.packet?.granted).toEqual(topics.map(() => 128));
      const seen: string[] = [];
      a.client.on('message', (topic) => seen.push(topic));
      expect((await t.send('iso-m-b1', { payload: 'secret' })).status).toBe(202);
      const b = await MqttTerminal.open(url(), 'iso-m-b1', await t.token('iso-m-b1'));
      await b.waitMessages(1);
      await sleep(100);
      expect(seen).toEqual([]);
      await Promise.all([a.close(), b.close()]);
    });

    it('publishing an ack to another terminal\'s ack topic closes the connection and leaves B\'s cursor alone', async () => {
      for (let i = 0; i < 2; i++) await t.send('iso-m-b2', { payload: i });
      const a = await MqttTerminal.open(url(), 'iso-m-a2', await t.token('iso-m-a2'));
      const closed = new Promise<void>((r) => a.client.once('close', () => r()));
      a.client.publish('pcm/t/iso-m-b2/ack', JSON.stringify({ seq: 2 }), { qos: 1 });
      await closed;
      expect(await presence('iso-m-b2')).toMatchObject({ pending: 2, lastAckedSeq: 0 });
      await a.client.endAsync(true);
    });

    it('acking B\'s seq on its own ack topic is refused with an error on control', async () => {
      for (let i = 0; i < 2; i++) await t.send('iso-m-b3', { payload: i });
      const a = await MqttTerminal.open(url(), 'iso-m-a3', await t.token('iso-m-a3'));
      await a.ack(2);
      await waitUntil(() => a.control.find((c) => c.type === 'error'), 3000, 'error on control');
      expect(a.control.find((c) => c.type === 'error').code).toBe('PCM_ERR_INVALID_ACK');
      expect(await presence('iso-m-b3')).toMatchObject({ pending: 2, lastAckedSeq: 0 });
      await a.close();
    });

    it('replying on another terminal\'s reply topic closes the connection; the request waits for B', async () => {
      const b = await MqttTerminal.open(url(), 'iso-m-b4', await t.token('iso-m-b4'));
      const a = await MqttTerminal.open(url(), 'iso-m-a4', await t.token('iso-m-a4'));
      const req = t.post('/v1/terminals/iso-m-b4/requests', { payload: 'q', timeoutMs: 5000 });
      const [m] = await b.waitMessages(1);
      const closed = new Promise<void>((r) => a.client.once('close', () => r()));
      a.client.publish('pcm/t/iso-m-b4/reply', JSON.stringify({ correlationId: m.correlationId, payload: 'forged' }), { qos: 1 });
      await closed;
      // Also through its own reply topic: unknown correlation on A's session.
      const a2 = await MqttTerminal.open(url(), 'iso-m-a4', await t.token('iso-m-a4'));
      await a2.reply(m.correlationId, 'forged-2');
      await waitUntil(() => a2.control.find((c) => c.type === 'error'), 3000, 'error on control');
      expect(a2.control.find((c) => c.type === 'error').code).toBe('PCM_ERR_UNKNOWN_CORRELATION');
      await b.reply(m.correlationId, 'genuine');
      expect((await req).body.reply).toBe('genuine');
      await Promise.all([a.client.endAsync(true), a2.close(), b.close()]);
    });

    it('connecting as B with A\'s token (client id or username B) is refused at CONNACK', async () => {
      const aToken = await t.token('iso-m-a5');
      for (const o of [{ clientId: 'iso-m-b5', username: 'iso-m-a5' }, { clientId: 'iso-m-a5', username: 'iso-m-b5' }, { clientId: 'iso-m-b5', username: 'iso-m-b5' }]) {
        const err = await new Promise<any>((resolve) => {
          const c = mqtt.connect(url(), { protocolVersion: 4, ...o, password: aToken, reconnectPeriod: 0, connectTimeout: 3000 });
          c.once('connect', () => {
            c.end(true);
            resolve(undefined);
          });
          c.once('error', (e) => {
            c.end(true);
            resolve(e);
          });
        });
        expect(err?.code).toBe(5); // CONNACK 5: not authorized
      }
      expect((await presence('iso-m-b5')).online).toBe(false);
    });

    it('an API key as MQTT password is refused (CONNACK 4)', async () => {
      const err = await new Promise<any>((resolve) => {
        const c = mqtt.connect(url(), { protocolVersion: 4, clientId: 'iso-m-a6', username: 'iso-m-a6', password: t.apiKey, reconnectPeriod: 0, connectTimeout: 3000 });
        c.once('connect', () => resolve(undefined));
        c.once('error', (e) => {
          c.end(true);
          resolve(e);
        });
      });
      expect(err?.code).toBe(4);
    });
  });
});
