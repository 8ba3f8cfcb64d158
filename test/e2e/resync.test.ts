import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessRelayHub, type InProcessRelayOptions } from '../../gateway/adapters/inprocess/inprocess-relay.js';
import { MemoryMessageStore } from '../../gateway/adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../../gateway/adapters/memory/memory-directory.js';
import type { RelayEvent } from '../../gateway/ports/relay-bus.js';
import { startGateway, WsTerminal, type TestGateway } from './harness.js';

/**
 * Issue 5 "resync": the relay is an accelerator (DESIGN.md invariant 2.7). With a relay that loses
 * every `deliver` event, a message sent through gateway A to a terminal on gateway B must still
 * arrive within about one resync period (PCM_RESYNC_SECONDS), found by B's periodic sweep.
 */
class LossyHub extends InProcessRelayHub {
  dropped = 0;
  override bus(options: InProcessRelayOptions = {}) {
    const bus = super.bus(options);
    const send = bus.send.bind(bus);
    const broadcast = bus.broadcast.bind(bus);
    const lossy = (ev: RelayEvent) => ev.kind === 'deliver' && (this.dropped++, true);
    bus.send = (to, ev) => (lossy(ev) ? Promise.resolve() : send(to, ev));
    bus.broadcast = (ev) => (lossy(ev) ? Promise.resolve() : broadcast(ev));
    return bus;
  }
}

const RESYNC_SECONDS = 0.6;

describe('periodic resync with a relay that drops every delivery (e2e)', () => {
  const hub = new LossyHub();
  const store = new MemoryMessageStore();
  const directory = new MemorySessionDirectory();
  let a: TestGateway, b: TestGateway;

  beforeAll(async () => {
    const shared = { store, directory, hub, mqtt: false };
    a = await startGateway({ ...shared, config: { gatewayId: 'gw-a', resyncSeconds: RESYNC_SECONDS } });
    // B shares A's store objects; only the last close() may close them, so B gets non-closing views.
    b = await startGateway({
      ...shared,
      store: nonClosing(store),
      directory: nonClosing(directory),
      config: { gatewayId: 'gw-b', terminalJwtSecret: a.secret, apiKeys: [a.apiKey], resyncSeconds: RESYNC_SECONDS },
    });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('a send through A reaches the terminal on B within one resync period, in order', async () => {
    const term = await WsTerminal.open(b, 'rs-1');
    const started = Date.now();
    for (let i = 1; i <= 3; i++) expect((await a.send('rs-1', { payload: `m${i}` })).status).toBe(202);
    const got = await term.waitMessages(3, 5000);
    const waited = Date.now() - started;
    expect(got.map((m: any) => m.payload)).toEqual(['m1', 'm2', 'm3']);
    expect(hub.dropped).toBeGreaterThanOrEqual(3); // the relay really lost them
    // One period plus scheduling slack on a shared 2-core machine.
    expect(waited).toBeLessThan(RESYNC_SECONDS * 1000 + 1500);
    const metrics = await fetch(`${b.base}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/pcm_resync_pumps_total [1-9]/);
    await term.close();
  });

  it('with the sweep off (resyncSeconds 0) a lost event waits: the sweep is what delivers', async () => {
    const c = await startGateway({
      store: nonClosing(store),
      directory: nonClosing(directory),
      hub,
      mqtt: false,
      config: { gatewayId: 'gw-c', terminalJwtSecret: a.secret, apiKeys: [a.apiKey], resyncSeconds: 0 },
    });
    try {
      const term = await WsTerminal.open(c, 'rs-2');
      expect((await a.send('rs-2', { payload: 'lost' })).status).toBe(202);
      await expect(term.waitMessages(1, RESYNC_SECONDS * 1000 * 3)).rejects.toThrow();
      await term.close();
    } finally {
      await c.close();
    }
  });
});

/** Shares one store between gateways: only the owner's close() closes it. */
function nonClosing<T extends object>(x: T): T {
  return new Proxy(x, { get: (t, p) => (p === 'close' ? async () => undefined : Reflect.get(t, p, t)) });
}
