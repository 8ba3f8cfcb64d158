import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcmClient, type ReceivedMessage } from '../../../client/client.js';
import { MemoryDuplicateStore } from '../../../client/duplicate-store.js';
import { silentLogger } from '../../../common/logger.js';
import type { Protocol } from '../../../protocol/frames.js';
import { mintTerminalToken } from '../../../protocol/token.js';
import { needService } from '../../services/env.js';
import { deleteTopics } from '../kafka/kafka-fixture.js';
import { PrivateKafka } from '../kafka/private-kafka.js';
import { api, GatewayProc, TestDiscovery, topicRecords, type FleetSettings } from './gateway-procs.js';
import { buildDiscoveryApp } from '../../../discovery/http/app.js';
import { StaticGatewaySource } from '../../../discovery/sources/static.js';
import { assignGateway } from '../../../discovery/core/assignment.js';

/**
 * Issue 5 acceptance: three gateway processes, real Kafka (a private broker from the test
 * bed's jars, so the outage case can stop it), a shared store (SQLite file, and Couchbase
 * when CouchbaseMock runs). Routing per DESIGN.md section 3: stored, then addressed to the
 * owning gateway only; bystanders consume nothing.
 */
const kafka = needService('kafka', ['PCM_TEST_KAFKA_BROKERS']);
const couchbase = needService('couchbase', ['PCM_TEST_COUCHBASE_CONNSTR']);

const FAST = { heartbeatMs: 2_000, backoff: { baseMs: 100, capMs: 1_000 }, connectTimeoutMs: 5_000 };
/** PCM_MAX_PENDING_PER_TERMINAL of the three gateways: above what any other case leaves pending. */
const QUEUE_LIMIT = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(fn: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** A terminal application: records every message its handler saw (duplicates included). */
class App {
  handled: ReceivedMessage[] = [];
  gateways: string[] = [];
  client!: PcmClient;
  terminalId = '';
  static async start(fleet: FleetSettings, terminalId: string, where: { url?: string; discoveryUrl?: string }, protocol: Protocol = 'websocket'): Promise<App> {
    const app = new App();
    app.terminalId = terminalId;
    app.client = new PcmClient({
      terminalId,
      token: () => mintTerminalToken(fleet.secret, terminalId),
      protocol,
      ...where,
      overrides: FAST,
      duplicateStore: new MemoryDuplicateStore(),
      logger: silentLogger,
      handler: (m) => {
        app.handled.push(m);
        return { echo: m.payload };
      },
    });
    app.client.on('connected', (c) => app.gateways.push(c.gatewayId ?? c.url));
    const connected = new Promise<void>((r) => app.client.once('connected', () => r()));
    await app.client.start();
    await Promise.race([connected, sleep(15_000).then(() => Promise.reject(new Error(`${terminalId} did not connect`)))]);
    return app;
  }
  ns(): number[] {
    return this.handled.map((m) => (m.payload as { n: number }).n);
  }
}

const stores: Array<'sqlite' | 'couchbase'> = couchbase ? ['sqlite', 'couchbase'] : ['sqlite'];

describe.skipIf(!kafka).each(stores)('three gateway processes, Kafka relay, %s store', (store) => {
  let broker: PrivateKafka;
  let fleet: FleetSettings;
  let gw1: GatewayProc, gw2: GatewayProc, gw3: GatewayProc;
  let discovery: TestDiscovery;
  let dir: string;
  const apps: App[] = [];
  const tid = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;

  /** Records written to a gateway's relay topic and to the broadcast topic (what it could consume). */
  const relayRecords = async (gatewayId: string) => {
    const r = await topicRecords(fleet.brokers, [`${fleet.prefix}.gw.${gatewayId}`, `${fleet.prefix}.broadcast`]);
    return { addressed: r[`${fleet.prefix}.gw.${gatewayId}`]!, broadcast: r[`${fleet.prefix}.broadcast`]! };
  };

  const send = async (gw: GatewayProc, terminalId: string, n: number) => {
    const r = await api(gw.base, fleet.apiKey, 'POST', `/v1/terminals/${terminalId}/messages`, { payload: { n } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body as { seq: number };
  };

  beforeAll(async () => {
    broker = await PrivateKafka.up();
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-3gw-'));
    fleet = {
      brokers: broker.brokers,
      prefix: `pcm3gw-${randomUUID().slice(0, 6)}`,
      store,
      secret: randomBytes(24).toString('hex'),
      apiKey: 'key-' + randomBytes(8).toString('hex'),
      storeEnv:
        store === 'sqlite'
          ? // One data dir for the three processes: they share messages.db and presence.db.
            { PCM_DATA_DIR: dir, PCM_SQLITE_SYNCHRONOUS: 'NORMAL', PCM_MAX_PENDING_PER_TERMINAL: String(QUEUE_LIMIT) }
          : {
              PCM_MAX_PENDING_PER_TERMINAL: String(QUEUE_LIMIT),
              PCM_COUCHBASE_CONNECTION_STRING: couchbase!.PCM_TEST_COUCHBASE_CONNSTR!,
              PCM_COUCHBASE_BUCKET: couchbase!.PCM_TEST_COUCHBASE_BUCKET ?? 'pcm',
              PCM_COUCHBASE_USERNAME: couchbase!.PCM_TEST_COUCHBASE_USERNAME ?? 'Administrator',
              PCM_COUCHBASE_PASSWORD: couchbase!.PCM_TEST_COUCHBASE_PASSWORD ?? 'password',
            },
    };
    // Started one after another: three JVM-less but tsx-compiling processes at once starve 2 cores.
    gw1 = await GatewayProc.start('gw1', fleet);
    gw2 = await GatewayProc.start('gw2', fleet);
    gw3 = await GatewayProc.start('gw3', fleet);
    discovery = await TestDiscovery.start();
  }, 400_000);

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.client.stop().catch(() => {})));
    await Promise.all([gw1, gw2, gw3].map((g) => g?.stop()));
    await discovery?.close();
    if (broker) await deleteTopics([broker.brokers], fleet.prefix);
    await broker?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('a message sent to gw1 reaches a terminal on gw3 over WebSocket and MQTT; gw2 consumes no relay event', async () => {
    const before2 = await relayRecords('gw2');
    const before3 = await relayRecords('gw3');
    const ws = await App.start(fleet, tid('ws'), { url: gw3.wsUrl }, 'websocket');
    const mq = await App.start(fleet, tid('mq'), { url: gw3.mqttUrl }, 'mqtt');
    apps.push(ws, mq);
    for (let n = 1; n <= 20; n++) {
      await send(gw1, ws.terminalId, n);
      await send(gw1, mq.terminalId, n);
    }
    await until(() => ws.handled.length >= 20 && mq.handled.length >= 20, 30_000, '20 messages on each terminal');
    await sleep(1_000);
    const all = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(ws.ns()).toEqual(all);
    expect(mq.ns()).toEqual(all);
    const after2 = await relayRecords('gw2');
    const after3 = await relayRecords('gw3');
    // Nothing was written where gw2 reads (its topic, the broadcast topic): it consumed nothing.
    expect(after2).toEqual(before2);
    // One record per message, addressed to gw3 only (DESIGN.md section 3).
    expect(after3.addressed - before3.addressed).toBe(40);
    expect(after3.broadcast - before3.broadcast).toBe(0);
  }, 90_000);

  it('queue limit across gateways: full on gw1, one unchecked first send on gw2 then refused, acks on gw3 free it for gw1 within its 2 s view', async () => {
    const terminalId = tid('qlim');
    for (let n = 1; n <= QUEUE_LIMIT; n++) await send(gw1, terminalId, n);
    const refused = await api(gw1.base, fleet.apiKey, 'POST', `/v1/terminals/${terminalId}/messages`, { payload: { n: -1 } });
    expect(refused.status).toBe(429);
    expect((refused.body as { code: string }).code).toBe('PCM_ERR_QUEUE_FULL');
    // gw2 has never seen this terminal: its first send is not checked (docs/sender-api.md), its second is
    await send(gw2, terminalId, QUEUE_LIMIT + 1);
    const second = await api(gw2.base, fleet.apiKey, 'POST', `/v1/terminals/${terminalId}/messages`, { payload: { n: -2 } });
    expect(second.status).toBe(429);
    // the terminal comes to gw3 and acks everything; gw1 takes sends again once its view is re-read
    const app = await App.start(fleet, terminalId, { url: gw3.wsUrl });
    apps.push(app);
    await until(() => app.handled.length >= QUEUE_LIMIT + 1, 60_000, `${QUEUE_LIMIT + 1} queued messages`);
    const deadline = Date.now() + 10_000;
    let again: { status: number; body: unknown };
    do {
      again = await api(gw1.base, fleet.apiKey, 'POST', `/v1/terminals/${terminalId}/messages`, { payload: { n: QUEUE_LIMIT + 2 } });
      if (again.status === 429) await sleep(250);
    } while (again.status === 429 && Date.now() < deadline);
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    await until(() => app.handled.length >= QUEUE_LIMIT + 2, 30_000, 'the message accepted after the acks');
    await sleep(500);
    // exactly what was accepted, in order; nothing refused was stored
    expect(app.ns()).toEqual(Array.from({ length: QUEUE_LIMIT + 2 }, (_, i) => i + 1));
  }, 180_000);

  it('request/reply crosses gateways: POST /requests on gw1, terminal on gw3 answers', async () => {
    const before2 = await relayRecords('gw2');
    const app = await App.start(fleet, tid('rr'), { url: gw3.wsUrl });
    apps.push(app);
    const r = await api(gw1.base, fleet.apiKey, 'POST', `/v1/terminals/${app.terminalId}/requests`, { payload: { n: 7, ask: 'ping' }, timeoutMs: 10_000 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.reply).toEqual({ echo: { n: 7, ask: 'ping' } });
    expect(await relayRecords('gw2')).toEqual(before2);
  }, 60_000);

  it('takeover: the same terminal connecting on gw2 closes its old session on gw1 (addressed to gw1 only)', async () => {
    const terminalId = tid('tko');
    const token = await mintTerminalToken(fleet.secret, terminalId);
    const before3 = await relayRecords('gw3');
    const open = async (gw: GatewayProc) => {
      const ws = new WebSocket(gw.wsUrl, { headers: { authorization: `Bearer ${token}` } });
      const frames: any[] = [];
      let closed = false;
      ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
      ws.on('close', () => (closed = true));
      await until(() => frames.some((f) => f.type === 'welcome'), 10_000, 'welcome');
      return { ws, frames, isClosed: () => closed };
    };
    const old = await open(gw1);
    const fresh = await open(gw2);
    await until(() => old.isClosed(), 15_000, 'the old session on gw1 to be closed');
    expect(old.frames.find((f) => f.type === 'error')?.code).toBe('PCM_ERR_SESSION_TAKEN_OVER');
    expect(fresh.isClosed()).toBe(false);
    const status = await api(gw3.base, fleet.apiKey, 'GET', `/v1/terminals/${terminalId}`);
    expect(status.body).toMatchObject({ online: true, gatewayId: 'gw2' });
    expect(await relayRecords('gw3')).toEqual(before3);
    fresh.ws.close();
  }, 60_000);

  it('a terminal moving from gw1 to gw2 mid-stream keeps its order with no duplicate at the application', async () => {
    const terminalId = tid('mv');
    discovery.assign(terminalId, gw1);
    const app = await App.start(fleet, terminalId, { discoveryUrl: discovery.url });
    apps.push(app);
    const total = 40;
    for (let n = 1; n <= total; n++) {
      await send(gw3, terminalId, n);
      if (n === 15) {
        await until(() => app.handled.length >= 10, 20_000, 'the first messages on gw1');
        discovery.assign(terminalId, gw2); // the client polls every second and moves
      }
      await sleep(60);
    }
    await until(() => app.handled.length >= total, 30_000, `${total} messages`);
    await sleep(1_000);
    expect(app.ns()).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(app.gateways[0]).toBe('gw1');
    expect(app.gateways).toContain('gw2');
    // Presence is eventually consistent: a claim the directory refused under load is made again
    // at gw2's next heartbeat (engine claimPresence), and a lookup it cannot answer is a 503.
    let status: { status: number; body: unknown } | undefined;
    const deadline = Date.now() + 10_000;
    do {
      if (status) await sleep(200);
      status = await api(gw1.base, fleet.apiKey, 'GET', `/v1/terminals/${terminalId}`);
    } while (!(status.status === 200 && (status.body as { online?: boolean }).online === true) && Date.now() < deadline);
    expect(status.body).toMatchObject({ online: true, gatewayId: 'gw2', pending: 0 });
  }, 90_000);

  it('Kafka stopped for 10 s mid-stream, then restarted: every message answered 202 is delivered, in order', async () => {
    const app = await App.start(fleet, tid('kdown'), { url: gw3.wsUrl });
    apps.push(app);
    const terminalId = app.terminalId;
    let n = 0;
    for (; n < 20; n++) await send(gw1, terminalId, n + 1);
    await until(() => app.handled.length >= 20, 20_000, 'messages before the outage');
    await broker.stop();
    const stoppedAt = Date.now();
    while (Date.now() - stoppedAt < 10_000) {
      await send(gw1, terminalId, ++n); // the store is up: still 202
      await sleep(200);
    }
    await broker.start();
    for (let i = 0; i < 20; i++) await send(gw1, terminalId, ++n);
    await until(() => app.handled.length >= n, 90_000, `${n} messages after the broker restart`);
    await sleep(1_000);
    expect(app.ns()).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  }, 240_000);

  it('kill -9 of the gateway holding a terminal: it reconnects to another gateway and gets everything, in order', async () => {
    const terminalId = tid('k9');
    discovery.assign(terminalId, gw3);
    const app = await App.start(fleet, terminalId, { discoveryUrl: discovery.url });
    apps.push(app);
    let n = 0;
    for (; n < 10; n++) await send(gw1, terminalId, n + 1);
    await until(() => app.handled.length >= 10, 20_000, 'messages before the kill');
    gw3.kill9();
    discovery.assign(terminalId, gw2);
    for (let i = 0; i < 10; i++) await send(gw1, terminalId, ++n); // presence may still name gw3
    await until(() => app.handled.length >= n, 60_000, `${n} messages after the kill`);
    for (let i = 0; i < 5; i++) await send(gw1, terminalId, ++n);
    await until(() => app.handled.length >= n, 30_000, `${n} messages via gw2`);
    await sleep(500);
    expect(app.ns()).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(app.gateways.at(-1)).toBe('gw2');

    // The crashed gateway comes back under the same id (a StatefulSet pod restart): its Kafka
    // group rejoins once the dead member's session expired, and relayed messages reach it again.
    await gw3.exited;
    gw3 = await GatewayProc.start('gw3', fleet);
    const back = await App.start(fleet, tid('back'), { url: gw3.wsUrl });
    apps.push(back);
    for (let i = 1; i <= 5; i++) await send(gw1, back.terminalId, i);
    await until(() => back.handled.length >= 5, 30_000, 'messages on the restarted gw3');
    expect(back.ns()).toEqual([1, 2, 3, 4, 5]);
  }, 180_000);

  it('kill -9 before anyone tells discovery: the SDK fails over through discovery (?unreachable=) to its next rendezvous gateway, in order', async () => {
    // The product's discovery app over the three processes, as the operator would publish them;
    // nobody removes gw3 after the kill (the readiness gate has not fired yet, or cannot see it).
    const source = new StaticGatewaySource([gw1, gw2, gw3].map((g) => ({ id: g.id, websocketUrl: g.wsUrl, mqttUrl: g.mqttUrl })));
    const disc = buildDiscoveryApp({ config: { terminalJwtSecret: fleet.secret, discoveryPollSeconds: 60 }, source, logger: silentLogger });
    await disc.listen({ port: 0, host: '127.0.0.1' });
    try {
      const discoveryUrl = `http://127.0.0.1:${(disc.server.address() as { port: number }).port}`;
      const terminalId = tid('fo');
      const home = assignGateway(terminalId, source.current().gateways)!.id;
      const next = assignGateway(terminalId, source.current().gateways, new Set([home]))!.id;
      const holder = [gw1, gw2, gw3].find((g) => g.id === home)!;
      const sender = [gw1, gw2, gw3].find((g) => g.id !== home)!;
      const app = await App.start(fleet, terminalId, { discoveryUrl });
      apps.push(app);
      expect(app.gateways).toEqual([home]);
      let n = 0;
      for (; n < 5; n++) await send(sender, terminalId, n + 1);
      await until(() => app.handled.length >= 5, 20_000, 'messages before the kill');
      holder.kill9();
      for (let i = 0; i < 5; i++) await send(sender, terminalId, ++n);
      await until(() => app.handled.length >= n, 60_000, `${n} messages after the kill`);
      for (let i = 0; i < 5; i++) await send(sender, terminalId, ++n);
      await until(() => app.handled.length >= n, 30_000, `${n} messages after the failover`);
      await sleep(500);
      expect(app.ns()).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(app.gateways).toEqual([home, next]);
      expect(await (await fetch(`${discoveryUrl}/metrics`)).text()).toMatch(new RegExp(`pcm_discovery_failovers_total\\{gateway="${home}"\\} [1-9]`));
      // the killed gateway comes back under its id, for whatever runs after this
      await holder.exited;
      const restarted = await GatewayProc.start(home, fleet);
      if (home === 'gw1') gw1 = restarted;
      else if (home === 'gw2') gw2 = restarted;
      else gw3 = restarted;
    } finally {
      await disc.close();
    }
  }, 180_000);
});
