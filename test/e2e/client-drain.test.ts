import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../../common/logger.js';
import type { Protocol } from '../../protocol/frames.js';
import { buildDiscoveryApp } from '../../discovery/http/app.js';
import { FileGatewaySource } from '../../discovery/sources/file.js';
import { assignGateway } from '../../discovery/core/assignment.js';
import { PcmClient, type ReceivedMessage } from '../../client/client.js';
import { MemoryDuplicateStore } from '../../client/duplicate-store.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../../gateway/adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../../gateway/adapters/inprocess/inprocess-relay.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { startGateway, waitUntil, type TestGateway } from './harness.js';

/** Shared adapters survive one gateway's close (each gateway closes what it was given). */
function uncloseable<T extends { close(): Promise<void> }>(x: T): T {
  return new Proxy(x, { get: (t, k) => (k === 'close' ? async () => {} : Reflect.get(t, k, t)) });
}

/**
 * A graceful scale-down as the operator performs it (DESIGN.md section 5: draining gateways
 * receive no new assignments; clients obey `reconnectAfterMs`, re-discovering): gateway A
 * is marked draining in the discovery file, then shut down; its `drain` frame sends the
 * real PcmClient through discovery to gateway B, and nothing is lost or handled twice.
 */
describe.each<Protocol>(['websocket', 'mqtt'])('drain and reassignment over %s (two real gateways, file discovery)', (protocol) => {
  let a: TestGateway;
  let b: TestGateway;
  let discovery: FastifyInstance;
  let discoveryUrl: string;
  let dir: string;
  let file: string;
  const store = new MemoryMessageStore();
  const directory = new MemorySessionDirectory();
  const hub = new InProcessRelayHub();
  const write = (drainA: boolean, generation: number) =>
    writeFileSync(
      file,
      JSON.stringify({
        generation,
        gateways: [
          { id: 'gw-a', websocketUrl: `ws://127.0.0.1:${a.httpPort}/v1/connect`, mqttUrl: `mqtt://127.0.0.1:${a.mqttPort}`, draining: drainA },
          { id: 'gw-b', websocketUrl: `ws://127.0.0.1:${b.httpPort}/v1/connect`, mqttUrl: `mqtt://127.0.0.1:${b.mqttPort}` },
        ],
      }),
    );

  beforeAll(async () => {
    a = await startGateway({ mqtt: true, store: uncloseable(store), directory: uncloseable(directory), hub, config: { gatewayId: 'gw-a', drainReconnectAfterMs: 300 } });
    // Same secret for both: the second gateway is configured with the first one's.
    b = await startGateway({ mqtt: true, store: uncloseable(store), directory: uncloseable(directory), hub, config: { gatewayId: 'gw-b', terminalJwtSecret: a.secret, apiKeys: [a.apiKey] } });
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-drain-'));
    file = path.join(dir, 'gateways.json');
    write(false, 1);
    const source = new FileGatewaySource({ path: file, pollMs: 100, logger: silentLogger });
    discovery = buildDiscoveryApp({ config: { terminalJwtSecret: a.secret, discoveryPollSeconds: 60 }, source, logger: silentLogger });
    await discovery.listen({ port: 0, host: '127.0.0.1' });
    await source.ready();
    discoveryUrl = `http://127.0.0.1:${(discovery.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await discovery?.close();
    await b?.close();
    await a?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('A drains: the client waits reconnectAfterMs, re-discovers, lands on B, and handles everything once in order', async () => {
    // A terminal id that rendezvous hashing puts on gw-a while both are live.
    const both = [
      { id: 'gw-a', weight: 1, draining: false },
      { id: 'gw-b', weight: 1, draining: false },
    ];
    let k = 0;
    while (assignGateway(`drain-${protocol}-${k}`, both)!.id !== 'gw-a') k++;
    const id = `drain-${protocol}-${k}`;

    const handled: unknown[] = [];
    const client = new PcmClient({
      terminalId: id,
      token: await mintTerminalToken(a.secret, id),
      protocol,
      discoveryUrl,
      overrides: { heartbeatMs: 2000, backoff: { baseMs: 50, capMs: 500 }, connectTimeoutMs: 3000 },
      duplicateStore: new MemoryDuplicateStore(),
      handler: (m: ReceivedMessage) => void handled.push(m.payload),
    });
    client.on('error', () => {});
    const gateways: (string | undefined)[] = [];
    const drains: { reconnectAfterMs: number }[] = [];
    const delays: number[] = [];
    client.on('connected', (i) => gateways.push(i.gatewayId));
    client.on('drain', (d) => drains.push(d));
    client.on('reconnecting', (r) => delays.push(r.delayMs));
    try {
      await client.start();
      await waitUntil(() => gateways.length === 1, 5000, 'connected to A');
      expect(gateways).toEqual(['gw-a']);
      expect((await a.send(id, { payload: 'before' })).status).toBe(202);
      await waitUntil(() => handled.length === 1, 5000, 'first message');

      write(true, 2); // the operator marks A draining
      await new Promise((r) => setTimeout(r, 300)); // file source picks it up (poll 100 ms)
      const t0 = Date.now();
      await a.close(); // A's shutdown sends drain(reconnectAfterMs 300) to its sessions
      expect((await b.send(id, { payload: 'while-moving' })).status).toBe(202);
      await waitUntil(() => gateways.length === 2, 8000, 'reconnected to B');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect(gateways).toEqual(['gw-a', 'gw-b']);
      expect(drains).toEqual([expect.objectContaining({ reconnectAfterMs: 300 })]);
      expect(delays[0]).toBe(300);
      expect((await b.send(id, { payload: 'after' })).status).toBe(202);
      await waitUntil(() => handled.length === 3, 5000, 'all three handled');
      expect(handled).toEqual(['before', 'while-moving', 'after']);
    } finally {
      await client.stop();
    }
  });
});
