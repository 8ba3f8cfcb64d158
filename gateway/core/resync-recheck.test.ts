import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../adapters/inprocess/inprocess-relay.js';
import { RecordingConnection as Conn } from './test-support/recording-connection.js';
import { DeliveryEngine } from './engine.js';
import { noopMetrics } from './metrics.js';


const seqs = (c: Conn) => c.seqs();

/**
 * A store may hold back messages above a gap it cannot yet tell from an append in flight
 * (Couchbase: docs/storage.md). When the gap later turns out permanent the counter has not
 * moved; the resync sweep must still read the store again and deliver what was held back
 * (invariant 2.7: a message waits at most a bounded time once the terminal is connected).
 */
describe('resync after a held-back range', () => {
  it('re-reads a terminal whose counter stays ahead of its cursor, and delivers what the store releases', async () => {
    const store = new MemoryMessageStore();
    const read = store.pending.bind(store);
    let holdBack = false;
    store.pending = async (id, q) => (holdBack ? [] : read(id, q));
    const relay = new InProcessRelayHub().bus();
    const e = new DeliveryEngine(
      { gatewayId: 'g', heartbeatSeconds: 30, maxSessions: 10, resyncIntervalMs: 40 },
      { store, directory: new MemorySessionDirectory(), relay, metrics: noopMetrics },
    );
    await e.start();
    holdBack = true; // the store reports nothing pending although the counter moved on
    await e.submit({ terminalId: 't1', payload: '"a"', ttlSeconds: 600 });
    const c = new Conn('t1');
    await e.connect(c); // the connect's read finds nothing: the session believes it is caught up
    await new Promise((r) => setTimeout(r, 150)); // a few resync periods: counter seen, nothing released
    const before = seqs(c);
    holdBack = false; // the gap is now known to be permanent: the store releases the message
    const deadline = Date.now() + 3000;
    while (!seqs(c).includes(1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await e.close();
    // held back, then delivered through a later resync re-read, within bounded time
    expect(before).toEqual([]);
    expect(seqs(c)).toContain(1);
  });
});
