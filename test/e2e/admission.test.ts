import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttConnackCode, refusedUpgrade, sleep, startGateway, WsTerminal, type TestGateway } from './harness.js';

/**
 * Admission control (PCM_MAX_CONNECTS_PER_SECOND, issue 6): one token bucket for every terminal
 * edge. Beyond it a WebSocket upgrade gets 503 PCM_ERR_OVERLOADED with Retry-After, an MQTT
 * CONNECT gets CONNACK 3 (server unavailable); the bucket refills and connections pass again.
 */
// One token per 2 s (burst 1): slow enough that a loaded machine cannot refill the bucket mid-test.
const RATE = 0.5;

describe('connection admission control (e2e)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ mqtt: true, config: { maxConnectsPerSecond: RATE } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const mqttConnect = (id: string) => mqttConnackCode(t, id);

  it('refuses WebSocket upgrades beyond the rate with 503 + Retry-After, MQTT with CONNACK 3, then admits again', async () => {
    const open: WsTerminal[] = [];
    for (let i = 0; i < Math.max(1, RATE); i++) open.push(await WsTerminal.open(t, `adm-${i}`));
    const refused = await WsTerminal.open(t, 'adm-x').then(
      () => undefined,
      (err: { status?: number; body?: { code?: string } }) => err,
    );
    expect(refused?.status).toBe(503);
    expect(refused?.body?.code).toBe('PCM_ERR_OVERLOADED');
    const res = await refusedUpgrade(t, 'adm-y');
    expect(res.statusCode).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await mqttConnect('adm-m1')).toBe(3);

    const metrics = await fetch(`http://127.0.0.1:${t.httpPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/pcm_connections_refused_total 3\b/);
    await sleep(2100); // > 1 token at RATE/s
    expect(await mqttConnect('adm-m2')).toBe(0);
    await sleep(2100); // the next token, for the WebSocket edge
    const again = await WsTerminal.open(t, 'adm-z');
    await Promise.all([...open, again].map((o) => o.close()));
  });
});
