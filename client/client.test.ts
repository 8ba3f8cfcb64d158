import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../common/logger.js';
import { mintTerminalToken } from '../protocol/token.js';
import type { Protocol } from '../protocol/frames.js';
import { buildDiscoveryApp } from '../discovery/http/app.js';
import { StaticGatewaySource } from '../discovery/sources/static.js';
import { MiniGateway } from './test-support/mini-gateway.js';
import { PcmClient, type PcmClientOptions, type ReceivedMessage } from './client.js';
import { FileDuplicateStore } from './file-duplicate-store.js';
import { MemoryDuplicateStore } from './duplicate-store.js';

const SECRET = 'client-test-secret-0123456789abcdef';
const FAST = { heartbeatMs: 1000, backoff: { baseMs: 40, capMs: 320 }, connectTimeoutMs: 2000 };

async function until<T>(fn: () => T | undefined | false, timeoutMs = 8000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

/** Starts `c` and collects its error codes until it has gone through `reconnects` retries. */
async function errorsWhileRetrying(c: PcmClient, reconnects = 2): Promise<string[]> {
  const codes: string[] = [];
  c.on('error', (e) => codes.push(e.code));
  let n = 0;
  c.on('reconnecting', () => n++);
  await c.start();
  await until(() => n >= reconnects, 5000, `${reconnects} reconnects`);
  return codes;
}

/** A port that was free a moment ago: nothing listens there (connection refused). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe.each<Protocol>(['websocket', 'mqtt'])('PcmClient over %s against a real server', (protocol) => {
  let gw: MiniGateway;
  let discovery: FastifyInstance;
  let discoveryUrl: string;
  let dir: string;
  const clients: PcmClient[] = [];
  let n = 0;

  beforeAll(async () => {
    gw = await MiniGateway.start(SECRET);
    discovery = buildDiscoveryApp({
      config: { terminalJwtSecret: SECRET, discoveryPollSeconds: 60 },
      source: new StaticGatewaySource([{ id: 'mini-0', websocketUrl: gw.wsUrl, mqttUrl: gw.mqttUrl }]),
      logger: silentLogger,
    });
    await discovery.listen({ port: 0, host: '127.0.0.1' });
    discoveryUrl = `http://127.0.0.1:${(discovery.server.address() as { port: number }).port}`;
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-client-'));
  });
  afterAll(async () => {
    await discovery.close();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    gw.refuse = false;
    gw.ignoreAcks = false;
    await Promise.all(clients.splice(0).map((c) => c.stop()));
  });

  const newId = () => `${protocol}-t-${++n}`;
  async function client(terminalId: string, extra: Partial<PcmClientOptions> = {}): Promise<PcmClient> {
    const c = new PcmClient({
      terminalId,
      token: await mintTerminalToken(SECRET, terminalId),
      protocol,
      discoveryUrl,
      overrides: FAST,
      duplicateStore: new MemoryDuplicateStore(),
      random: () => 1, // full jitter at its ceiling: delays are exactly the capped exponential
      ...extra,
    });
    clients.push(c);
    c.on('error', () => {}); // errors are asserted where expected
    return c;
  }

  it('discovers, connects, and acks only after the handler resolved', async () => {
    const id = newId();
    const gate = deferred();
    const seen: ReceivedMessage[] = [];
    const c = await client(id, {
      handler: async (m) => {
        seen.push(m);
        await gate.promise;
      },
    });
    const assignments: string[] = [];
    c.on('assignment', (a) => assignments.push(a.gatewayId));
    const connected = new Promise((r) => c.once('connected', r));
    await c.start();
    expect(await connected).toMatchObject({ protocol, gatewayId: 'mini-0' });
    expect(assignments).toEqual(['mini-0']);
    const seq = gw.push(id, { amount: 1250 });
    await until(() => seen.length === 1, 5000, 'message handled');
    expect(seen[0]).toMatchObject({ seq, payload: { amount: 1250 } });
    await new Promise((r) => setTimeout(r, 150));
    expect(gw.acks.filter((a) => a.terminalId === id)).toEqual([]); // handler still running
    gate.resolve();
    await until(() => gw.cursor(id) === seq, 5000, 'ack');
    expect(gw.acks.filter((a) => a.terminalId === id)).toEqual([{ terminalId: id, seq, protocol }]);
  });

  it('runs handlers strictly one at a time in seq order, acking each', async () => {
    const id = newId();
    const log: string[] = [];
    const c = await client(id, {
      handler: async (m) => {
        log.push(`start ${m.seq}`);
        await new Promise((r) => setTimeout(r, 30 - m.seq * 5)); // later messages finish faster if run concurrently
        log.push(`end ${m.seq}`);
      },
    });
    await c.start();
    await until(() => gw.isConnected(id));
    for (let i = 0; i < 5; i++) gw.push(id, i);
    await until(() => gw.cursor(id) === 5, 5000, 'all acked');
    expect(log).toEqual([1, 2, 3, 4, 5].flatMap((s) => [`start ${s}`, `end ${s}`]));
    expect(gw.acks.filter((a) => a.terminalId === id).map((a) => a.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("replies to a request with the handler's return value", async () => {
    const id = newId();
    const c = await client(id, { handler: (m) => ({ approved: true, echo: m.payload }) });
    await c.start();
    await until(() => gw.isConnected(id));
    gw.push(id, { q: 'status?' }, 'corr-1');
    await until(() => gw.replies.find((r) => r.terminalId === id), 5000, 'reply');
    expect(gw.replies.filter((r) => r.terminalId === id)).toEqual([{ terminalId: id, correlationId: 'corr-1', payload: { approved: true, echo: { q: 'status?' } } }]);
  });

  it('reconnects with capped exponential backoff while the gateway refuses, then delivers what queued', async () => {
    const id = newId();
    const handled: number[] = [];
    const c = await client(id, { handler: (m) => void handled.push(m.seq) });
    const delays: number[] = [];
    c.on('reconnecting', (e) => delays.push(e.delayMs));
    await c.start();
    await until(() => gw.isConnected(id));
    gw.refuse = true;
    gw.cutAll();
    await until(() => delays.length >= 5, 8000, 'five reconnect attempts');
    gw.push(id, 'a');
    gw.push(id, 'b');
    gw.refuse = false;
    await until(() => handled.length === 2, 8000, 'delivery after reconnect');
    // random() = 1: each delay is min(cap, base * 2^attempt): 40, 80, 160, 320, 320 …
    expect(delays.slice(0, 5)).toEqual([40, 80, 160, 320, 320]);
    expect(handled).toEqual([1, 2]);
    // After a good connection the backoff starts from the base again.
    gw.cutAll();
    await until(() => delays.length >= 6 && gw.isConnected(id), 8000, 'reconnect');
    expect(delays[delays.length - 1]).toBe(40);
  });

  // WebSocket only (registered, not skipped, per transport): an MQTT refusal is CONNACK 3,
  // which carries no retry hint.
  if (protocol !== 'mqtt') it('a refused upgrade with Retry-After waits the hint plus its backoff (admission, flapping)', async () => {
    const id = newId();
    const c = await client(id, { handler: () => {} });
    const refusals: { delayMs: number; reason: string }[] = [];
    c.on('reconnecting', (e) => refusals.push(e));
    await c.start();
    await until(() => gw.isConnected(id));
    gw.refuse = true;
    gw.retryAfterSeconds = 1;
    try {
      gw.cutAll();
      await until(() => refusals.length >= 2, 8000, 'a refused reconnect');
    } finally {
      gw.refuse = false;
      gw.retryAfterSeconds = undefined;
    }
    // The first reconnect follows the cut (plain backoff); the second follows the 503 + Retry-After: 1.
    expect(refusals[0]!.delayMs).toBe(40);
    expect(refusals[1]!.delayMs).toBe(1000 + 80);
    await until(() => gw.isConnected(id), 8000, 'reconnected after the hint');
  });

  it('obeys drain: waits reconnectAfterMs, re-discovers, reconnects', async () => {
    const id = newId();
    const c = await client(id, { handler: () => {} });
    const assignments: number[] = [];
    c.on('assignment', () => assignments.push(Date.now()));
    const drains: unknown[] = [];
    c.on('drain', (d) => drains.push(d));
    const delays: number[] = [];
    c.on('reconnecting', (e) => delays.push(e.delayMs));
    await c.start();
    await until(() => gw.isConnected(id));
    const before = gw.connectAttempts.length;
    const t0 = Date.now();
    gw.sendDrain(id, 400, 5000);
    await until(() => gw.connectAttempts.length > before && gw.isConnected(id), 5000, 'reconnect after drain');
    const reconnectedAt = gw.connectAttempts[before]!.at;
    expect(drains).toEqual([{ reconnectAfterMs: 400, reason: 'test drain' }]);
    expect(delays).toEqual([400]);
    expect(reconnectedAt - t0).toBeGreaterThanOrEqual(390);
    // The client left by itself (it did not wait for the server's close, 5 s later).
    expect(reconnectedAt - t0).toBeLessThan(4000);
    expect(assignments.length).toBe(2);
    expect(assignments[1]! - t0).toBeGreaterThanOrEqual(390);
  });

  it('suppresses duplicates across a client restart with the file store', async () => {
    const id = newId();
    const store = new FileDuplicateStore(path.join(dir, protocol));
    gw.ignoreAcks = true; // every ack "lost": the gateway redelivers everything on reconnect
    const first: number[] = [];
    const c1 = await client(id, { duplicateStore: store, handler: (m) => void first.push(m.seq) });
    await c1.start();
    await until(() => gw.isConnected(id));
    gw.push(id, 'one');
    gw.push(id, 'two');
    gw.push(id, 'three');
    await until(() => first.length === 3 && gw.acks.filter((a) => a.terminalId === id).length === 3);
    await c1.stop();
    gw.push(id, 'four');

    const second: number[] = [];
    const dups: number[] = [];
    // A new client object, a new store object over the same directory: only the file carries state.
    const c2 = await client(id, { duplicateStore: new FileDuplicateStore(path.join(dir, protocol)), handler: (m) => void second.push(m.seq) });
    c2.on('duplicate', (d) => dups.push(d.seq));
    await c2.start();
    await until(() => second.length === 1 && dups.length === 3, 5000, 'redelivery handled');
    expect(first).toEqual([1, 2, 3]);
    expect(dups).toEqual([1, 2, 3]);
    expect(second).toEqual([4]);
    // duplicates are acked again so a real gateway can advance its cursor
    await until(() => gw.acks.filter((a) => a.terminalId === id).length === 7, 5000, 'acks');
    expect(gw.acks.filter((a) => a.terminalId === id).map((a) => a.seq)).toEqual([1, 2, 3, 1, 2, 3, 4]);
  });

  it('a changed epoch resets the filter instead of dropping new low seqs, also across a restart', async () => {
    const id = newId();
    const store = new FileDuplicateStore(path.join(dir, `${protocol}-epoch`));
    const handled: { seq: number; payload: unknown }[] = [];
    const c1 = await client(id, { duplicateStore: store, handler: (m) => void handled.push({ seq: m.seq, payload: m.payload }) });
    const resets: string[] = [];
    c1.on('epochReset', (e) => resets.push(e.epoch));
    await c1.start();
    await until(() => gw.isConnected(id));
    gw.push(id, 'a1');
    gw.push(id, 'a2');
    await until(() => gw.cursor(id) === 2);
    const epoch = gw.resetCounter(id); // the store lost the counter: seqs restart at 1
    gw.push(id, 'b1');
    await until(() => handled.length === 3 && gw.cursor(id) === 1, 5000, 'new-epoch seq 1 handled');
    expect(handled).toEqual([
      { seq: 1, payload: 'a1' },
      { seq: 2, payload: 'a2' },
      { seq: 1, payload: 'b1' },
    ]);
    expect(resets).toEqual([epoch]);
    await c1.stop();
    expect(await store.load(id)).toEqual({ epoch, lastSeq: 1 });
    // After a restart in the same epoch, seq 1 is still a duplicate and seq 2 is new.
    gw.ignoreAcks = true;
    gw.push(id, 'b2');
    const after: unknown[] = [];
    const c2 = await client(id, { duplicateStore: new FileDuplicateStore(path.join(dir, `${protocol}-epoch`)), handler: (m) => void after.push(m.payload) });
    await c2.start();
    await until(() => after.length === 1, 5000);
    expect(after).toEqual(['b2']);
  });

  it('a failing handler leaves the message unacked; it is redelivered and handled once it succeeds', async () => {
    const id = newId();
    let calls = 0;
    const c = await client(id, {
      handler: (m) => {
        calls++;
        if (m.seq === 1 && calls === 1) throw new Error('printer jammed');
      },
    });
    const errors: string[] = [];
    c.on('error', (e) => errors.push(e.message));
    await c.start();
    await until(() => gw.isConnected(id));
    gw.push(id, 'x');
    gw.push(id, 'y');
    await until(() => gw.cursor(id) === 2, 8000, 'both acked');
    expect(calls).toBe(3); // seq 1 twice, seq 2 once
    expect(errors.some((e) => /handler failed for seq 1: printer jammed/.test(e))).toBe(true);
    expect(gw.acks.filter((a) => a.terminalId === id).map((a) => a.seq)).toEqual([1, 2]);
  });

  it('a bad token surfaces PCM_ERR_UNAUTHORIZED and keeps retrying with backoff', async () => {
    const id = newId();
    const c = await client(id, { token: await mintTerminalToken('some-other-secret-0123456789', id) });
    const codes = await errorsWhileRetrying(c);
    expect(codes[0]).toBe('PCM_ERR_UNAUTHORIZED'); // discovery refuses it first
  });

  it('a gateway or discovery that cannot be reached surfaces PCM_ERR_UNREACHABLE (not an internal error) and is retried', async () => {
    const closed = await closedPort();
    const scheme = protocol === 'mqtt' ? 'mqtt' : 'ws';
    for (const extra of [{ url: `${scheme}://127.0.0.1:${closed}${protocol === 'mqtt' ? '' : '/v1/connect'}`, discoveryUrl: undefined }, { discoveryUrl: `http://127.0.0.1:${closed}` }]) {
      const c = await client(newId(), extra);
      const codes = await errorsWhileRetrying(c);
      expect(codes.length).toBeGreaterThan(0);
      expect(new Set(codes)).toEqual(new Set(['PCM_ERR_UNREACHABLE']));
      await c.stop();
    }
  });
});

describe('PcmClient assignment moves', () => {
  it('moves to the newly assigned gateway when discovery answers differently on a poll', async () => {
    const a = await MiniGateway.start(SECRET);
    const b = await MiniGateway.start(SECRET);
    const dir = mkdtempSync(path.join(tmpdir(), 'pcm-move-'));
    const { writeFileSync } = await import('node:fs');
    const file = path.join(dir, 'gateways.json');
    const set = (drainA: boolean) =>
      writeFileSync(
        file,
        JSON.stringify({
          generation: drainA ? 2 : 1,
          gateways: [
            { id: 'a', websocketUrl: a.wsUrl, mqttUrl: a.mqttUrl, draining: drainA },
            ...(drainA ? [{ id: 'b', websocketUrl: b.wsUrl, mqttUrl: b.mqttUrl }] : []),
          ],
        }),
      );
    set(false);
    const { FileGatewaySource } = await import('../discovery/sources/file.js');
    const source = new FileGatewaySource({ path: file, pollMs: 100, logger: silentLogger });
    const discovery = buildDiscoveryApp({ config: { terminalJwtSecret: SECRET, discoveryPollSeconds: 1 }, source, logger: silentLogger });
    await discovery.listen({ port: 0, host: '127.0.0.1' });
    const discoveryUrl = `http://127.0.0.1:${(discovery.server.address() as { port: number }).port}`;
    const id = 'mover-1';
    const handled: string[] = [];
    const c = new PcmClient({
      terminalId: id,
      token: await mintTerminalToken(SECRET, id),
      discoveryUrl,
      overrides: FAST,
      duplicateStore: new MemoryDuplicateStore(),
      handler: (m) => void handled.push(String(m.payload)),
    });
    const gateways: (string | undefined)[] = [];
    c.on('connected', (i) => gateways.push(i.gatewayId));
    try {
      await c.start();
      await until(() => a.isConnected(id));
      a.push(id, 'on-a');
      await until(() => handled.length === 1);
      set(true);
      await until(() => b.isConnected(id), 6000, 'moved to b');
      expect(a.isConnected(id)).toBe(false);
      b.push(id, 'on-b');
      await until(() => handled.length === 2);
      expect(gateways).toEqual(['a', 'b']);
      expect(handled).toEqual(['on-a', 'on-b']);
    } finally {
      await c.stop();
      await discovery.close();
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each<Protocol>(['websocket', 'mqtt'])('PcmClient failover over %s (docs/client.md, "Failover")', (protocol) => {
  const portOf = (url: string) => Number(new URL(url).port);

  it('fails over to its next gateway when its own cannot be reached, and follows the assignment back once it returns', async () => {
    let a = await MiniGateway.start(SECRET);
    const b = await MiniGateway.start(SECRET);
    const endpoints = [
      { id: 'a', websocketUrl: a.wsUrl, mqttUrl: a.mqttUrl },
      { id: 'b', websocketUrl: b.wsUrl, mqttUrl: b.mqttUrl },
    ];
    const source = new StaticGatewaySource(endpoints);
    // a terminal whose home is `a`
    const { assignGateway } = await import('../discovery/core/assignment.js');
    let n = 0;
    while (assignGateway(`fo-${protocol}-${n}`, source.current().gateways)!.id !== 'a') n++;
    const id = `fo-${protocol}-${n}`;
    const aPorts = { http: portOf(a.wsUrl), mqtt: portOf(a.mqttUrl) };
    await a.close(); // gateway a is gone: its ports refuse connections
    const discovery = buildDiscoveryApp({ config: { terminalJwtSecret: SECRET, discoveryPollSeconds: 1 }, source, logger: silentLogger });
    await discovery.listen({ port: 0, host: '127.0.0.1' });
    const discoveryUrl = `http://127.0.0.1:${(discovery.server.address() as { port: number }).port}`;
    const handled: string[] = [];
    const c = new PcmClient({
      terminalId: id,
      token: await mintTerminalToken(SECRET, id),
      protocol,
      discoveryUrl,
      overrides: FAST,
      duplicateStore: new MemoryDuplicateStore(),
      handler: (m) => void handled.push(String(m.payload)),
      failoverAvoidMs: 1500,
    });
    c.on('error', () => {});
    const failovers: { gatewayId: string; failures: number; avoidMs: number }[] = [];
    const connected: (string | undefined)[] = [];
    const assigned: string[] = [];
    c.on('failover', (f) => failovers.push(f));
    c.on('connected', (i) => connected.push(i.gatewayId));
    c.on('assignment', (x) => assigned.push(x.gatewayId));
    try {
      await c.start();
      await until(() => b.isConnected(id), 8000, 'failed over to b');
      expect(failovers).toEqual([{ gatewayId: 'a', failures: 2, avoidMs: 1500 }]);
      // two answers for a (two unreachable attempts), then b
      expect(assigned.slice(0, 3)).toEqual(['a', 'a', 'b']);
      b.push(id, 'via-b');
      await until(() => handled.length === 1, 8000, 'delivery on b');
      // a comes back on its old address; after the avoidance the poll moves the terminal home
      a = await MiniGateway.start(SECRET, aPorts);
      await until(() => a.isConnected(id), 8000, 'back on a');
      a.push(id, 'via-a');
      await until(() => handled.length === 2, 8000, 'delivery on a');
      expect(handled).toEqual(['via-b', 'via-a']);
      expect(connected).toEqual(['b', 'a']);
      expect(b.isConnected(id)).toBe(false);
    } finally {
      await c.stop();
      await discovery.close();
      await a.close().catch(() => undefined);
      await b.close();
    }
  });

  it('a next choice that cannot be reached either is left after one attempt (an outage of several gateways)', async () => {
    const c3 = await MiniGateway.start(SECRET);
    const deadA = await closedPort();
    const deadB = await closedPort();
    const dead = (p: number) => ({ websocketUrl: `ws://127.0.0.1:${p}/v1/connect`, mqttUrl: `mqtt://127.0.0.1:${p}` });
    const source = new StaticGatewaySource([
      { id: 'a', ...dead(deadA) },
      { id: 'b', ...dead(deadB) },
      { id: 'c', websocketUrl: c3.wsUrl, mqttUrl: c3.mqttUrl },
    ]);
    const { assignGateway } = await import('../discovery/core/assignment.js');
    const gs = source.current().gateways;
    // a terminal whose first choice is a and second choice b
    let n = 0;
    const idOf = (k: number) => `chain-${protocol}-${k}`;
    while (assignGateway(idOf(n), gs)!.id !== 'a' || assignGateway(idOf(n), gs, new Set(['a']))!.id !== 'b') n++;
    const id = idOf(n);
    const discovery = buildDiscoveryApp({ config: { terminalJwtSecret: SECRET, discoveryPollSeconds: 60 }, source, logger: silentLogger });
    await discovery.listen({ port: 0, host: '127.0.0.1' });
    const discoveryUrl = `http://127.0.0.1:${(discovery.server.address() as { port: number }).port}`;
    const c = new PcmClient({ terminalId: id, token: await mintTerminalToken(SECRET, id), protocol, discoveryUrl, overrides: FAST, duplicateStore: new MemoryDuplicateStore() });
    c.on('error', () => {});
    const failovers: { gatewayId: string; failures: number }[] = [];
    const assigned: string[] = [];
    c.on('failover', (f) => failovers.push({ gatewayId: f.gatewayId, failures: f.failures }));
    c.on('assignment', (x) => assigned.push(x.gatewayId));
    try {
      await c.start();
      await until(() => c3.isConnected(id), 8000, 'on c');
      expect(failovers).toEqual([
        { gatewayId: 'a', failures: 2 },
        { gatewayId: 'b', failures: 1 },
      ]);
      expect(assigned.slice(0, 4)).toEqual(['a', 'a', 'b', 'c']);
    } finally {
      await c.stop();
      await discovery.close();
      await c3.close();
    }
  });

  it('failoverAfter: 0 keeps dialing the assigned gateway (no failover)', async () => {
    const b = await MiniGateway.start(SECRET);
    const closed = await closedPort();
    const source = new StaticGatewaySource([
      { id: 'a', websocketUrl: `ws://127.0.0.1:${closed}/v1/connect`, mqttUrl: `mqtt://127.0.0.1:${closed}` },
      { id: 'b', websocketUrl: b.wsUrl, mqttUrl: b.mqttUrl },
    ]);
    const { assignGateway } = await import('../discovery/core/assignment.js');
    let n = 0;
    while (assignGateway(`nofo-${protocol}-${n}`, source.current().gateways)!.id !== 'a') n++;
    const id = `nofo-${protocol}-${n}`;
    const discovery = buildDiscoveryApp({ config: { terminalJwtSecret: SECRET, discoveryPollSeconds: 60 }, source, logger: silentLogger });
    await discovery.listen({ port: 0, host: '127.0.0.1' });
    const discoveryUrl = `http://127.0.0.1:${(discovery.server.address() as { port: number }).port}`;
    const c = new PcmClient({ terminalId: id, token: await mintTerminalToken(SECRET, id), protocol, discoveryUrl, overrides: FAST, duplicateStore: new MemoryDuplicateStore(), failoverAfter: 0 });
    const assigned: string[] = [];
    c.on('assignment', (x) => assigned.push(x.gatewayId));
    let failovers = 0;
    c.on('failover', () => failovers++);
    try {
      const codes = await errorsWhileRetrying(c, 4);
      expect(new Set(codes)).toEqual(new Set(['PCM_ERR_UNREACHABLE']));
      expect(failovers).toBe(0);
      expect(new Set(assigned)).toEqual(new Set(['a']));
      expect(b.isConnected(id)).toBe(false);
    } finally {
      await c.stop();
      await discovery.close();
      await b.close();
    }
  });
});

describe('PcmClient behind a proxy', () => {
  it('a 502/503/504 without a PCM error body (a proxy whose gateway is gone) is PCM_ERR_UNREACHABLE; a PCM 503 stays PCM_ERR_OVERLOADED', async () => {
    const http = await import('node:http');
    let status = 502;
    let body = '<html>Bad Gateway</html>';
    const proxy = http.createServer((_req, res) => res.writeHead(404).end());
    proxy.on('upgrade', (_req, socket) => {
      socket.end(`HTTP/1.1 ${status} Whatever\r\ncontent-type: text/html\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `ws://127.0.0.1:${(proxy.address() as { port: number }).port}/v1/connect`;
    const codesFor = async () => {
      const id = 'proxied-1';
      const c = new PcmClient({ terminalId: id, token: await mintTerminalToken(SECRET, id), url, overrides: FAST, duplicateStore: new MemoryDuplicateStore() });
      try {
        return await errorsWhileRetrying(c, 1);
      } finally {
        await c.stop();
      }
    };
    try {
      for (const s of [502, 503, 504]) {
        status = s;
        expect(new Set(await codesFor()), `HTTP ${s}`).toEqual(new Set(['PCM_ERR_UNREACHABLE']));
      }
      status = 503;
      body = JSON.stringify({ code: 'PCM_ERR_OVERLOADED', message: 'too many connects' });
      expect(new Set(await codesFor())).toEqual(new Set(['PCM_ERR_OVERLOADED']));
    } finally {
      proxy.close();
    }
  });
});

describe('PcmClient when discovery is down', () => {
  it('reuses the last assignment, but not while that gateway is avoided after failing over', async () => {
    const g = await MiniGateway.start(SECRET);
    const gPorts = { http: Number(new URL(g.wsUrl).port), mqtt: Number(new URL(g.mqttUrl).port) };
    const discovery = buildDiscoveryApp({ config: { terminalJwtSecret: SECRET, discoveryPollSeconds: 60 }, source: new StaticGatewaySource([{ id: 'g', websocketUrl: g.wsUrl, mqttUrl: g.mqttUrl }]), logger: silentLogger });
    await discovery.listen({ port: 0, host: '127.0.0.1' });
    const discoveryUrl = `http://127.0.0.1:${(discovery.server.address() as { port: number }).port}`;
    const id = 'fallback-1';
    const c = new PcmClient({ terminalId: id, token: await mintTerminalToken(SECRET, id), discoveryUrl, overrides: FAST, duplicateStore: new MemoryDuplicateStore(), random: () => 1, failoverAvoidMs: 5000 });
    const errors: string[] = [];
    c.on('error', (e) => errors.push(e.message));
    let connects = 0;
    c.on('connected', () => connects++);
    let g2: MiniGateway | undefined;
    try {
      await c.start();
      await until(() => connects === 1, 8000, 'first connect');
      await discovery.close(); // discovery is gone from here on
      g.cutAll();
      await until(() => connects === 2, 8000, 'reconnect through the last assignment');
      expect(errors.some((m) => m.startsWith('discovery request'))).toBe(true);
      // now the gateway goes too: two fallback dials fail (failoverAfter), then the client
      // only retries discovery while it avoids the gateway (5 s here; eight attempts take ~1.5 s)
      errors.length = 0;
      await g.close();
      await until(() => errors.length >= 8, 8000, 'eight failed attempts');
      const dials = errors.filter((m) => m.startsWith('WebSocket connect to'));
      expect(dials).toHaveLength(2);
      expect(errors.filter((m) => m.startsWith('discovery request')).length).toBeGreaterThanOrEqual(6);
      // the gateway returns on its address while discovery is still down: once the avoidance
      // ends the client falls back to it again and reconnects
      g2 = await MiniGateway.start(SECRET, gPorts);
      await until(() => connects === 3, 12_000, 'reconnect through the last assignment after the avoidance');
    } finally {
      await c.stop();
      await g2?.close();
    }
  });
});
