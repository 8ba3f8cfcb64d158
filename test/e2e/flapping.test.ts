import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttConnackCode, refusedUpgrade, sleep, startGateway, WsTerminal, type TestGateway } from './harness.js';

/**
 * Flapping detection (issue 8, PCM_FLAP_*) on real sockets: a terminal id that connects more
 * than PCM_FLAP_MAX_CONNECTS times per window is refused at the door (WebSocket 503
 * PCM_ERR_FLAPPING + Retry-After; MQTT CONNACK 3) until its penalty is over, while a terminal
 * that connects normally is untouched, and a terminal the gateway itself drained is not
 * punished for coming back.
 */
const LIMIT = 3;
const PENALTY_S = 2;

describe('flapping detection (e2e)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startGateway({ mqtt: true, config: { flapMaxConnects: LIMIT, flapWindowSeconds: 60, flapPenaltySeconds: PENALTY_S, flapMaxPenaltySeconds: 60 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  const wsRefusal = (id: string) =>
    WsTerminal.open(t, id).then(
      async (w) => {
        await w.close();
        return undefined;
      },
      (err: { status?: number; body?: { code?: string } }) => err,
    );

  const mqttConnect = (id: string) => mqttConnackCode(t, id);

  const metric = async (name: string) => {
    const text = await fetch(`http://127.0.0.1:${t.httpPort}/metrics`).then((r) => r.text());
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  };

  it('slows a flapping WebSocket terminal down (503 + Retry-After) and leaves a normal one alone', async () => {
    for (let i = 0; i < LIMIT; i++) expect(await wsRefusal('flappy')).toBeUndefined();
    const refused = await wsRefusal('flappy');
    expect(refused?.status).toBe(503);
    expect(refused?.body?.code).toBe('PCM_ERR_FLAPPING');

    // The raw upgrade shows the retry hint.
    const res = await refusedUpgrade(t, 'flappy');
    expect(res.statusCode).toBe(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(PENALTY_S);

    // A steady terminal connects while the flapping one is held off.
    const calm = await WsTerminal.open(t, 'calm');
    expect(calm.frames[0]).toMatchObject({ type: 'welcome', terminalId: 'calm' });
    await calm.close();
    expect(await metric('pcm_terminals_flapping_total')).toBe(1);
    expect(await metric('pcm_connections_flapping_refused_total')).toBe(2);

    // Penalty over: admitted again.
    await sleep(PENALTY_S * 1000 + 200);
    expect(await wsRefusal('flappy')).toBeUndefined();
  });

  it('refuses a flapping MQTT terminal with CONNACK 3', async () => {
    for (let i = 0; i < LIMIT; i++) expect(await mqttConnect('flappy-m')).toBe(0);
    expect(await mqttConnect('flappy-m')).toBe(3);
    expect(await mqttConnect('calm-m')).toBe(0);
  });

  it('a terminal the gateway drains (scale-down) is not punished for the reconnect it was told to make', async () => {
    // At the limit already…
    for (let i = 0; i < LIMIT - 1; i++) expect(await wsRefusal('drained')).toBeUndefined();
    const held = await WsTerminal.open(t, 'drained');
    t.gw.engine.startDrain({ ratePerSecond: 100, windowMs: 200 });
    const drain = await held.next('drain');
    expect(drain.reason).toBe('scale-down');
    await held.waitClosed();
    await sleep(drain.reconnectAfterMs);
    // …yet the reconnect it was told to make is admitted (and drained again: the gateway is leaving).
    const back = await WsTerminal.open(t, 'drained');
    expect(back.frames[0]).toMatchObject({ type: 'welcome' });
    await back.waitClosed();
  });
});
