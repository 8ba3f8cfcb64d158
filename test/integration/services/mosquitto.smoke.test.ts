import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import { needService } from '../../services/env.js';

// Smoke test of the mosquitto-clients test bed (issue 3, DESIGN.md section 6): Debian's
// mosquitto_pub / mosquitto_sub, the third-party MQTT peer of the gateway tests. Install with
// `npm run services -- up mosquitto`. Beyond "found and runnable", the two clients exchange a
// message through an in-process aedes broker on an ephemeral 127.0.0.1 port, so a broken
// client (or one that cannot speak MQTT 3.1.1 to aedes) fails here first.
const svc = needService('mosquitto', ['PCM_TEST_MOSQUITTO_PUB', 'PCM_TEST_MOSQUITTO_SUB']);

describe.skipIf(!svc)('mosquitto-clients test bed', () => {
  let broker: Aedes;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await new Promise<void>((resolve) => broker?.close(() => resolve()));
  });

  it.each(['PCM_TEST_MOSQUITTO_PUB', 'PCM_TEST_MOSQUITTO_SUB'])('%s runs and prints its version', (v) => {
    const bin = svc![v]!;
    const r = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 10_000 });
    expect(r.error).toBeUndefined();
    // --help exits 1 by design; what matters is that the binary loaded and printed its usage.
    expect(r.stdout + r.stderr).toMatch(/mosquitto_(pub|sub) version 2\.\d+\.\d+/);
  });

  it('mosquitto_pub delivers to mosquitto_sub through an MQTT 3.1.1 broker', async () => {
    const topic = `pcm/smoke/${process.pid}`;
    // -C 1: exit after one message; -W 20: give up after 20 s; -V mqttv311: aedes speaks 3.1.1 only.
    const sub = spawn(
      svc!.PCM_TEST_MOSQUITTO_SUB!,
      ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-q', '1', '-t', topic, '-C', '1', '-W', '20'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    sub.stdout.on('data', (d) => (out += d));
    sub.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => sub.on('exit', (code) => resolve(code)));

    // Publish once the subscription is registered in the broker (no sleep-and-hope).
    const deadline = Date.now() + 10_000;
    while (!hasSubscriber(broker, topic)) {
      if (Date.now() > deadline) throw new Error(`mosquitto_sub never subscribed: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Async spawn: the broker lives in this process, so blocking (spawnSync) would starve it.
    const pub = spawn(
      svc!.PCM_TEST_MOSQUITTO_PUB!,
      ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-q', '1', '-t', topic, '-m', 'hello-from-mosquitto'],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 },
    );
    let pubErr = '';
    pub.stderr.on('data', (d) => (pubErr += d));
    const pubCode = await new Promise<number | null>((resolve) => pub.on('exit', (code) => resolve(code)));
    expect(pubCode, pubErr).toBe(0);
    expect(await exited).toBe(0);
    expect(out.trim()).toBe('hello-from-mosquitto');
  });
});

/** True once some client holds a subscription matching `topic` (aedes keeps them per client). */
function hasSubscriber(broker: Aedes, topic: string): boolean {
  const clients = (broker as unknown as { clients: Record<string, { subscriptions: Record<string, unknown> }> }).clients;
  return Object.values(clients).some((c) => topic in (c.subscriptions ?? {}));
}
