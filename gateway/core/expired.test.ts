import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../adapters/inprocess/inprocess-relay.js';
import { RecordingConnection as Conn } from './test-support/recording-connection.js';
import { DeliveryEngine } from './engine.js';
import { noopMetrics } from './metrics.js';


/**
 * pcm_messages_expired_total counts stored messages the engine finds expired when it would
 * write them (invariant 2.4): here the store read is slow enough (a clock that jumps 5 s during
 * pending()) that a 1 s message expires between the read and the write.
 */
describe('expired messages seen by the engine', () => {
  it('a message whose TTL passes during the drain read is not written, and is counted', async () => {
    let now = 1_000_000;
    const store = new MemoryMessageStore();
    const read = store.pending.bind(store);
    let slow = false;
    store.pending = async (id, q) => {
      const r = await read(id, q);
      if (slow) now += 5000;
      return r;
    };
    let expired = 0;
    const e = new DeliveryEngine(
      { gatewayId: 'g', heartbeatSeconds: 30, maxSessions: 10, resyncIntervalMs: 0 },
      {
        store,
        directory: new MemorySessionDirectory(),
        relay: new InProcessRelayHub().bus(),
        clock: { now: () => now },
        metrics: { ...noopMetrics, expired: (n) => (expired += n) },
      },
    );
    await e.start();
    await e.submit({ terminalId: 'x', payload: '"short"', ttlSeconds: 1 });
    await e.submit({ terminalId: 'x', payload: '"long"', ttlSeconds: 600 });
    slow = true;
    const c = new Conn('x');
    await e.connect(c);
    await new Promise((r) => setTimeout(r, 20));
    const seqs = c.frames.filter((f) => f.type === 'message').map((f) => (f as { seq: number }).seq);
    expect(seqs).toEqual([2]); // the short one expired in flight; the long one still goes
    expect(expired).toBe(1);
    await e.close();
  });
});
