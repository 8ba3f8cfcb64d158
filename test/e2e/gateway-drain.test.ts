import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../common/logger.js';
import { loadConfig } from '../../common/config.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { buildGateway, type Gateway } from '../../gateway/app.js';
import { GatewayConfigSchema } from '../../gateway/config.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../../gateway/adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../../gateway/adapters/inprocess/inprocess-relay.js';
import { FileGatewaySource } from '../../discovery/sources/file.js';
import { waitUntil, WsTerminal, type TestGateway } from './harness.js';

/**
 * Graceful scale-down (issue 6, docs/operator.md "What a gateway does"): the gateway reads the
 * operator's assignments document through discovery's FileGatewaySource (a mounted ConfigMap),
 * and when its own entry turns `draining` it evacuates its terminals at PCM_DRAIN_RATE per
 * second, each with its own reconnectAfterMs inside PCM_DRAIN_SECONDS, then reports empty.
 */
const RATE = 5; // drain frames per second
const DRAIN_SECONDS = 10;
const N = 6;

describe('gateway drain from the assignments file (e2e)', () => {
  let dir: string;
  let file: string;
  let gw: Gateway;
  let t: TestGateway;
  const doc = (draining: boolean) =>
    JSON.stringify({
      generation: draining ? 2 : 1,
      gateways: [
        { id: 'gw-leaving', websocketUrl: 'ws://127.0.0.1:1/v1/connect', mqttUrl: 'mqtt://127.0.0.1:2', weight: 1, draining },
        { id: 'gw-staying', websocketUrl: 'ws://127.0.0.1:3/v1/connect', mqttUrl: 'mqtt://127.0.0.1:4', weight: 1, draining: false },
      ],
    });
  const write = (text: string) => {
    // Atomic replace, as the kubelet's symlink swap is.
    writeFileSync(file + '.tmp', text);
    renameSync(file + '.tmp', file);
  };
  const publish = (draining: boolean) => write(doc(draining));

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-drain-'));
    file = path.join(dir, 'gateways.json');
    publish(false);
    const secret = randomBytes(24).toString('hex');
    const base = loadConfig(GatewayConfigSchema, { env: { PCM_TERMINAL_JWT_SECRET: secret, PCM_API_KEYS: 'drain-test-key' } });
    const config = { ...base, host: '127.0.0.1', httpPort: 0, mqttPort: 0, gatewayId: 'gw-leaving', drainRate: RATE, drainSeconds: DRAIN_SECONDS };
    const hub = new InProcessRelayHub();
    gw = await buildGateway({
      config,
      store: new MemoryMessageStore(),
      directory: new MemorySessionDirectory(),
      relay: hub.bus({ logger: silentLogger }),
      logger: silentLogger,
      mqtt: false,
      gatewaySource: new FileGatewaySource({ path: file, pollMs: 100, logger: silentLogger }),
    });
    const { httpPort } = await gw.listen();
    t = { httpPort, token: (id: string) => mintTerminalToken(secret, id) } as unknown as TestGateway;
  });
  afterAll(async () => {
    await gw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/v1/gateway/status`)).json() as Promise<any>;

  it('flipping its own flag drains every terminal at the configured rate, with distinct reconnectAfterMs', async () => {
    const terms = await Promise.all(Array.from({ length: N }, (_, i) => WsTerminal.open(t, `dr-${i}`)));
    expect(await status()).toMatchObject({ gatewayId: 'gw-leaving', draining: false, sessions: N, drained: false });
    expect((await fetch(`http://127.0.0.1:${t.httpPort}/readyz`)).status).toBe(200);

    publish(true);
    const got: { at: number; frame: any }[] = [];
    await Promise.all(terms.map(async (term) => got.push({ frame: await term.next('drain', 8000), at: Date.now() })));
    got.sort((a, b) => a.at - b.at);

    const delays = got.map((g) => g.frame.reconnectAfterMs as number);
    expect(new Set(delays).size).toBe(N); // each terminal its own moment
    expect(got.every((g) => g.frame.reason === 'scale-down')).toBe(true);
    for (const d of delays) {
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThanOrEqual(DRAIN_SECONDS * 1000);
    }
    // Arrival targets (send time + delay) are spread, not bunched: increasing with the send order.
    const arrivals = got.map((g) => g.at + g.frame.reconnectAfterMs);
    expect(arrivals[N - 1]! - arrivals[0]!).toBeGreaterThan(DRAIN_SECONDS * 1000 * 0.4);
    // Rate: N frames at RATE/s cannot all come at once (the first may go at once).
    expect(got[N - 1]!.at - got[0]!.at).toBeGreaterThanOrEqual(((N - 2) / RATE) * 1000);
    await Promise.all(terms.map((term) => waitUntil(() => term.closed, 3000, 'close after drain')));

    expect((await fetch(`http://127.0.0.1:${t.httpPort}/readyz`)).status).toBe(503);
    expect(await status()).toMatchObject({ draining: true, sessions: 0, drained: true });
    expect(await fetch(`http://127.0.0.1:${t.httpPort}/metrics`).then((r) => r.text())).toMatch(/pcm_draining 1\b/);
  });

  it('a terminal that comes anyway is accepted and told to drain at once', async () => {
    const late = await WsTerminal.open(t, 'dr-late');
    const f = await late.next('drain', 3000);
    expect(f.reconnectAfterMs).toBeGreaterThan(0);
    await waitUntil(() => late.closed, 3000, 'late terminal closed');
    expect((await status()).sessions).toBe(0);
  });

  it('a missing entry does not end the drain; draining: false again (scale-down cancelled) does, even while held back as ready: false', async () => {
    const ready = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/readyz`)).status;
    const [leaving, staying] = JSON.parse(doc(false)).gateways;
    write(JSON.stringify({ generation: 3, gateways: [staying] }));
    await new Promise((r) => setTimeout(r, 400)); // several polls of the file
    expect(await status()).toMatchObject({ draining: true });
    expect(await ready()).toBe(503);
    // A scale-up kept this gateway. Its pod has not been Ready for a while (it was draining),
    // so the operator lists it held back: draining false, ready false. Only the gateway
    // ending its drain can make the pod Ready again, so this must end it.
    write(JSON.stringify({ generation: 4, gateways: [{ ...leaving, draining: false, ready: false }, staying] }));
    for (let i = 0; (await status()).draining !== false; i++) {
      if (i > 30) throw new Error('drain not cancelled within 3 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await ready()).toBe(200);
    const term = await WsTerminal.open(t, 'dr-after');
    await new Promise((r) => setTimeout(r, 300));
    expect(term.closed).toBeUndefined();
    expect((await status()).sessions).toBe(1);
    expect(await fetch(`http://127.0.0.1:${t.httpPort}/metrics`).then((r) => r.text())).toMatch(/pcm_draining 0\b/);
    await term.close();
  });
});
