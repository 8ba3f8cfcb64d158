import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../../common/logger.js';
import type { Protocol } from '../../protocol/frames.js';
import { buildDiscoveryApp } from '../../discovery/http/app.js';
import { StaticGatewaySource } from '../../discovery/sources/static.js';
import { PcmClient, type PcmClientOptions, type ReceivedMessage } from '../../client/client.js';
import { FileDuplicateStore } from '../../client/file-duplicate-store.js';
import type { TransportFactory } from '../../client/transports/transport.js';
import { connectWebSocket } from '../../client/transports/websocket.js';
import { connectMqtt } from '../../client/transports/mqtt.js';
import { startGateway, waitUntil, type TestGateway } from './harness.js';

/**
 * PcmClient against the real gateway (gateway/app.ts) and the real discovery app, over both
 * transports: discovery -> connect -> receive -> ack; offline -> reconnect in order; every
 * message handled exactly once across a client restart (DESIGN.md section 2.3).
 */
const FAST = { heartbeatMs: 2000, backoff: { baseMs: 50, capMs: 500 }, connectTimeoutMs: 3000 };

describe.each<Protocol>(['websocket', 'mqtt'])('PcmClient against the real gateway over %s', (protocol) => {
  let t: TestGateway;
  let discovery: FastifyInstance;
  let discoveryUrl: string;
  let dir: string;
  let n = 0;

  beforeAll(async () => {
    t = await startGateway({ mqtt: true, config: { gatewayId: 'gw-e2e' } });
    discovery = buildDiscoveryApp({
      config: { terminalJwtSecret: t.secret, discoveryPollSeconds: 60 },
      source: new StaticGatewaySource([{ id: 'gw-e2e', websocketUrl: `ws://127.0.0.1:${t.httpPort}/v1/connect`, mqttUrl: `mqtt://127.0.0.1:${t.mqttPort}` }]),
      logger: silentLogger,
    });
    await discovery.listen({ port: 0, host: '127.0.0.1' });
    discoveryUrl = `http://127.0.0.1:${(discovery.server.address() as { port: number }).port}`;
    dir = mkdtempSync(path.join(tmpdir(), `pcm-e2e-client-${protocol}-`));
  });
  afterAll(async () => {
    await discovery?.close();
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const newId = () => `e2e-${protocol}-${++n}`;
  async function client(terminalId: string, extra: Partial<PcmClientOptions> = {}): Promise<PcmClient> {
    const c = new PcmClient({
      terminalId,
      token: await t.token(terminalId),
      protocol,
      discoveryUrl,
      overrides: FAST,
      duplicateStore: new FileDuplicateStore(dir),
      ...extra,
    });
    c.on('error', () => {});
    return c;
  }
  const connected = (c: PcmClient) => new Promise<{ gatewayId?: string; sessionId?: string; protocol: string }>((r) => c.once('connected', r));
  type Presence = { online: boolean; pending: number; lastAckedSeq: number; protocol?: string };
  const presence = async (id: string) => (await t.get(`/v1/terminals/${id}`)).body as Presence;
  /** Polls GET /v1/terminals/{id} until `ok` holds (acks travel asynchronously), at most 5 s; returns the last answer. */
  async function presenceWhen(id: string, ok: (p: Presence) => boolean): Promise<Presence> {
    const end = Date.now() + 5000;
    let p = await presence(id);
    while (!ok(p) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 25));
      p = await presence(id);
    }
    return p;
  }

  it('discovery -> connect -> receive -> ack; a request gets the handler value as its reply', async () => {
    const id = newId();
    const got: ReceivedMessage[] = [];
    const c = await client(id, { handler: (m) => (m.correlationId ? { approved: true, amount: (m.payload as { amount: number }).amount } : void got.push(m)) });
    const up = connected(c);
    await c.start();
    const info = await up;
    expect(info).toMatchObject({ gatewayId: 'gw-e2e', protocol });
    expect(info.sessionId).toEqual(expect.any(String)); // from the gateway's welcome, on MQTT too
    const sent = await t.send(id, { payload: { hello: 'terminal' } });
    expect(sent.status).toBe(202);
    await waitUntil(() => got.length === 1, 5000, 'message handled');
    expect(got[0]).toMatchObject({ seq: sent.body.seq, messageId: sent.body.messageId, payload: { hello: 'terminal' } });
    // The gateway's cursor follows the SDK's ack.
    const p = await presenceWhen(id, (x) => x.lastAckedSeq === sent.body.seq && x.pending === 0);
    expect(p).toMatchObject({ online: true, protocol, pending: 0, lastAckedSeq: sent.body.seq });

    const r = await t.post(`/v1/terminals/${id}/requests`, { payload: { amount: 1250 }, timeoutMs: 5000 });
    expect(r.status).toBe(200);
    expect(r.body.reply).toEqual({ approved: true, amount: 1250 });
    await c.stop();
  });

  // WebSocket only: over MQTT the broker closes the older connection itself on a duplicate
  // client id (MQTT 3.1.1, 3.1.4), with no frame to tell a takeover from a dropped link, so
  // the SDK reconnects with its normal backoff there (docs/client.md).
  if (protocol === 'websocket') it('taken over: by default the client comes back after takeoverRetryMs (doubling); onTakeover stop stops it', async () => {
    const id = newId();
    const a = await client(id, { takeoverRetryMs: 300 });
    const takenA: Array<{ count: number; retryInMs?: number }> = [];
    a.on('takenOver', (e) => takenA.push(e));
    let upA = connected(a);
    await a.start();
    await upA;
    // a second client with the same id (stop mode) takes the session over
    const b = await client(id, { onTakeover: 'stop' });
    const takenB: Array<{ count: number; retryInMs?: number }> = [];
    b.on('takenOver', (e) => takenB.push(e));
    const upB = connected(b);
    upA = connected(a);
    await b.start();
    await upB;
    await waitUntil(() => takenA.length === 1, 5000, 'a taken over');
    expect(takenA[0]).toEqual({ count: 1, retryInMs: 300 });
    expect(a.state).not.toBe('stopped');
    // a comes back after the delay and takes the session back: b stops for good
    await upA;
    await waitUntil(() => takenB.length === 1, 5000, 'b taken over');
    expect(takenB[0]).toEqual({ count: 1 });
    await waitUntil(() => b.state === 'stopped', 5000, 'b stopped');
    expect((await presenceWhen(id, (x) => x.online)).online).toBe(true);
    const sent = await t.send(id, { payload: 'after the fight' });
    expect(sent.status).toBe(202);
    expect((await presenceWhen(id, (x) => x.lastAckedSeq === sent.body.seq)).lastAckedSeq).toBe(sent.body.seq);
    await a.stop();
    await b.stop();
  });

  it('offline -> reconnect: queued messages arrive in order, each handled once', async () => {
    const id = newId();
    const handled: unknown[] = [];
    const handler = (m: ReceivedMessage) => void handled.push(m.payload);
    const c1 = await client(id, { handler });
    const up = connected(c1);
    await c1.start();
    await up;
    expect((await t.send(id, { payload: 'live-1' })).status).toBe(202);
    await waitUntil(() => handled.length === 1, 5000, 'live message');
    await c1.stop();
    for (const p of ['off-1', 'off-2', 'off-3']) expect((await t.send(id, { payload: p })).status).toBe(202);
    const c2 = await client(id, { handler });
    await c2.start();
    await waitUntil(() => handled.length === 4, 8000, 'queued messages after reconnect');
    expect(handled).toEqual(['live-1', 'off-1', 'off-2', 'off-3']);
    expect((await presenceWhen(id, (x) => x.pending === 0)).pending).toBe(0);
    await c2.stop();
  });

  it('exactly once across a client restart even when acks are lost on the wire', async () => {
    const id = newId();
    const real: TransportFactory = protocol === 'mqtt' ? connectMqtt : connectWebSocket;
    // Fault injection through the pluggable transport: the handler runs, the state is saved,
    // but the ack never leaves the terminal, so the gateway must redeliver after the restart.
    const ackDropping: TransportFactory = async (o, h) => {
      const tr = await real(o, h);
      return { protocol: tr.protocol, send: (f) => (f.type === 'ack' ? true : tr.send(f)), close: (r) => tr.close(r) };
    };
    const handled: unknown[] = [];
    const handler = (m: ReceivedMessage) => void handled.push(m.payload);
    const c1 = await client(id, { handler, transportFactory: ackDropping });
    const up = connected(c1);
    await c1.start();
    await up;
    for (const p of ['a', 'b', 'c']) expect((await t.send(id, { payload: p })).status).toBe(202);
    await waitUntil(() => handled.length === 3, 5000, 'first three handled');
    expect((await presence(id)).lastAckedSeq).toBe(0);
    await c1.stop();
    expect((await t.send(id, { payload: 'd' })).status).toBe(202);

    const dups: number[] = [];
    const c2 = await client(id, { handler });
    c2.on('duplicate', (d) => dups.push(d.seq));
    await c2.start();
    await waitUntil(() => handled.length === 4 && dups.length === 3, 8000, 'redelivery handled');
    expect(handled).toEqual(['a', 'b', 'c', 'd']);
    expect(dups).toEqual([1, 2, 3]);
    // Duplicates are acked again, so the gateway's cursor reaches the end.
    expect(await presenceWhen(id, (x) => x.lastAckedSeq === 4)).toMatchObject({ lastAckedSeq: 4, pending: 0 });
    await c2.stop();
  });
});

describe('PcmClient over MQTT-over-WebSocket (/mqtt on the gateway HTTP port)', () => {
  it('connects with a ws:// mqttUrl, receives and acks', async () => {
    const t = await startGateway({ mqtt: true });
    const dir = mkdtempSync(path.join(tmpdir(), 'pcm-e2e-mqttws-'));
    const id = 'e2e-mqtt-ws-1';
    const handled: unknown[] = [];
    const c = new PcmClient({
      terminalId: id,
      token: await t.token(id),
      protocol: 'mqtt',
      url: `ws://127.0.0.1:${t.httpPort}/mqtt`,
      overrides: FAST,
      duplicateStore: new FileDuplicateStore(dir),
      handler: (m) => void handled.push(m.payload),
    });
    c.on('error', () => {});
    try {
      const up = new Promise<{ sessionId?: string }>((r) => c.once('connected', r));
      await c.start();
      expect((await up).sessionId).toEqual(expect.any(String));
      const sent = await t.send(id, { payload: 'via /mqtt' });
      expect(sent.status).toBe(202);
      await waitUntil(() => handled.length === 1, 5000, 'message over MQTT/WS');
      expect(handled).toEqual(['via /mqtt']);
      const end = Date.now() + 5000;
      let p = (await t.get(`/v1/terminals/${id}`)).body;
      while (p.lastAckedSeq !== sent.body.seq && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 25));
        p = (await t.get(`/v1/terminals/${id}`)).body;
      }
      expect(p).toMatchObject({ lastAckedSeq: sent.body.seq, pending: 0 });
    } finally {
      await c.stop();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
