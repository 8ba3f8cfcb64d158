import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../adapters/inprocess/inprocess-relay.js';
import { RecordingConnection as Conn } from './test-support/recording-connection.js';
import { DeliveryEngine } from './engine.js';
import { noopMetrics } from './metrics.js';

async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

/**
 * An admin purge through one gateway of a terminal connected to another: the terminal holds a
 * message it never acks (a poison message), its window is full, so nothing newer reaches it.
 * The purge moves the store's cursor; the other gateway's resync check sees it and releases
 * the window (docs/mission-control.md).
 */
describe('purge through another gateway', () => {
  for (const resyncIntervalMs of [40, 0]) {
    it(`releases the stuck window of a session on another gateway within a resync period${resyncIntervalMs ? '' : ' (not without the resync sweep: the control)'}`, async () => {
      const store = new MemoryMessageStore();
      const directory = new MemorySessionDirectory();
      const hub = new InProcessRelayHub();
      const opts = { heartbeatSeconds: 30, maxSessions: 10, window: 2, resyncIntervalMs };
      const a = new DeliveryEngine({ ...opts, gatewayId: 'a' }, { store, directory, relay: hub.bus(), metrics: noopMetrics });
      const b = new DeliveryEngine({ ...opts, gatewayId: 'b' }, { store, directory, relay: hub.bus(), metrics: noopMetrics });
      await Promise.all([a.start(), b.start()]);
      try {
        const c = new Conn('t1');
        await b.connect(c);
        for (const p of ['"poison"', '"second"', '"third"']) await a.submit({ terminalId: 't1', payload: p, ttlSeconds: 600 });
        expect(await until(() => c.seqs().length === 2)).toBe(true);
        await new Promise((r) => setTimeout(r, 150)); // window of 2 full: seq 3 waits for an ack that never comes
        expect(c.seqs()).toEqual([1, 2]);
        expect(await a.purge('t1')).toMatchObject({ purged: 3, lastAckedSeq: 3 });
        await a.submit({ terminalId: 't1', payload: '"after purge"', ttlSeconds: 600 });
        const released = await until(() => c.seqs().includes(4), 1000);
        expect(released).toBe(resyncIntervalMs > 0);
        // purged seq 3 is never delivered; seq 4 (accepted after the purge) is
        expect(c.seqs()).toEqual(resyncIntervalMs > 0 ? [1, 2, 4] : [1, 2]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  }

  it("a resync check that reads the store while the terminal's own ack is being stored leaves that ack to count itself", async () => {
    const store = new MemoryMessageStore();
    const ack = store.ack.bind(store);
    let ackDone: Promise<unknown> = Promise.resolve();
    store.ack = (t, seq) => {
      const p = ack(t, seq).then(async (r) => {
        await new Promise((res) => setTimeout(res, 120)); // stored, answer slow: several resync periods
        return r;
      });
      ackDone = p;
      return p;
    };
    let acked = 0;
    const e = new DeliveryEngine(
      { gatewayId: 'g', heartbeatSeconds: 30, maxSessions: 10, window: 2, resyncIntervalMs: 20 },
      { store, directory: new MemorySessionDirectory(), relay: new InProcessRelayHub().bus(), metrics: { ...noopMetrics, acked: (n: number) => void (acked += n) } },
    );
    await e.start();
    try {
      const c = new Conn('t1');
      await e.connect(c);
      await e.submit({ terminalId: 't1', payload: '"a"', ttlSeconds: 600 });
      await e.submit({ terminalId: 't1', payload: '"b"', ttlSeconds: 600 });
      expect(await until(() => c.seqs().length === 2)).toBe(true);
      await e.handleFrame(c, { type: 'ack', seq: 2 });
      await ackDone;
      expect(acked).toBe(2);
    } finally {
      await e.close();
    }
  });
});
