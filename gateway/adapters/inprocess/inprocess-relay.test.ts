import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../common/logger.js';
import { collector, relayBusContract, sampleDeliver } from '../../../test/contract/relay-bus.contract.js';
import { InProcessRelayHub, createInProcessRelayBus, defaultRelayHub } from './inprocess-relay.js';

relayBusContract('inprocess', () => {
  const hub = new InProcessRelayHub();
  return { newBus: () => hub.bus({ logger: silentLogger }), quietMs: 20, deliveryTimeoutMs: 1_000, teardown: async () => {} };
});

describe('InProcessRelayHub', () => {
  it('counts consumed events per gateway across restarts and dropped events for unknown targets', async () => {
    const hub = new InProcessRelayHub();
    const a = hub.bus({ logger: silentLogger });
    const b = hub.bus({ logger: silentLogger });
    const got = collector();
    await a.start('a', () => {});
    await b.start('b', got.handler);
    expect(hub.gateways().sort()).toEqual(['a', 'b']);
    await a.send('b', sampleDeliver('a', 't', 1));
    await a.send('nobody', sampleDeliver('a', 't', 2));
    await got.waitFor(1, 1_000);
    expect(hub.consumed('b')).toBe(1);
    expect(hub.consumed('a')).toBe(0);
    expect(hub.droppedUnknownTarget).toBe(1);
    await b.close();
    expect(hub.gateways()).toEqual(['a']);
    const b2 = hub.bus({ logger: silentLogger });
    const got2 = collector();
    await b2.start('b', got2.handler);
    await a.send('b', sampleDeliver('a', 't', 3));
    await got2.waitFor(1, 1_000);
    expect(hub.consumed('b')).toBe(2);
    await Promise.all([a.close(), b2.close()]);
  });

  it('reachablePeers counts the other gateways started on the hub', async () => {
    const hub = new InProcessRelayHub();
    const a = hub.bus({ logger: silentLogger });
    const b = hub.bus({ logger: silentLogger });
    expect(a.reachablePeers()).toBe(0);
    await a.start('a', () => {});
    expect(a.reachablePeers()).toBe(0);
    await b.start('b', () => {});
    expect([a.reachablePeers(), b.reachablePeers()]).toEqual([1, 1]);
    await b.close();
    expect(a.reachablePeers()).toBe(0);
    await a.close();
  });

  it('refuses a second live bus under the same gateway id', async () => {
    const hub = new InProcessRelayHub();
    const a = hub.bus({ logger: silentLogger });
    await a.start('same', () => {});
    await expect(hub.bus({ logger: silentLogger }).start('same', () => {})).rejects.toMatchObject({ code: 'PCM_ERR_CONFIG' });
    await a.close();
  });

  it('hands each gateway its own copy of the event', async () => {
    const hub = new InProcessRelayHub();
    const a = hub.bus({ logger: silentLogger });
    const b = hub.bus({ logger: silentLogger });
    const got = collector();
    await a.start('a', () => {});
    await b.start('b', got.handler);
    const ev = sampleDeliver('a', 't', 1);
    await a.send('b', ev);
    const [received] = await got.waitFor(1, 1_000);
    expect(received).toEqual(ev);
    expect(received).not.toBe(ev);
    await Promise.all([a.close(), b.close()]);
  });

  it('createInProcessRelayBus defaults to the process-wide hub', async () => {
    const bus = createInProcessRelayBus({ logger: silentLogger });
    await bus.start('default-hub-gw', () => {});
    expect(defaultRelayHub.gateways()).toContain('default-hub-gw');
    await bus.close();
    expect(defaultRelayHub.gateways()).not.toContain('default-hub-gw');
  });
});
