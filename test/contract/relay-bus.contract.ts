import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isPcmError } from '../../common/errors.js';
import type { RelayBus, RelayEvent } from '../../gateway/ports/relay-bus.js';

/**
 * The exported RelayBus contract (DESIGN.md sections 2.7 and 3), aedes-persistence
 * `abstract.js` style: every adapter (inprocess, kafka) runs it through `relayBusContract`.
 *
 * A fixture is one relay fabric (an in-process hub, a Kafka cluster + topic prefix):
 * every bus it makes can reach every other. Tests use fresh gateway ids, so a fixture is
 * shared by the whole suite; `quietMs` is how long a test waits before concluding that an
 * event was NOT delivered, `deliveryTimeoutMs` how long it waits for one that must be.
 */
export interface RelayBusFixture {
  newBus(): RelayBus | Promise<RelayBus>;
  quietMs: number;
  deliveryTimeoutMs: number;
  /** Removes what the fixture created (hub, topics). Buses are closed by the suite. */
  teardown(): Promise<void>;
}

export interface Collector {
  events: RelayEvent[];
  handler: (e: RelayEvent) => void;
  waitFor(n: number, timeoutMs: number): Promise<RelayEvent[]>;
}

/** Records events; waitFor resolves once n arrived or rejects with what it saw so far. */
export function collector(): Collector {
  const events: RelayEvent[] = [];
  let wake: (() => void) | undefined;
  return {
    events,
    handler: (e) => {
      events.push(e);
      wake?.();
    },
    async waitFor(n, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${n} relay events within ${timeoutMs} ms, got ${events.length}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 250));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = undefined;
      }
      return events;
    },
  };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function sampleDeliver(from: string, terminalId: string, seq: number): RelayEvent {
  return {
    kind: 'deliver',
    from,
    epoch: 'ep-1',
    message: {
      terminalId,
      seq,
      messageId: `m-${seq}`,
      payload: JSON.stringify({ amount: seq, note: 'é €' }),
      createdAt: 1_700_000_000_000 + seq,
      expiresAt: 1_700_000_060_000 + seq,
    },
  };
}

export function relayBusContract(name: string, factory: () => RelayBusFixture | Promise<RelayBusFixture>): void {
  describe(`RelayBus contract: ${name}`, () => {
    let fx: RelayBusFixture;
    const open: RelayBus[] = [];
    const run = randomUUID().slice(0, 8);
    let n = 0;
    const gid = (label: string) => `${label}-${run}-${++n}`;

    /** Starts `count` gateways on fresh ids, each with its own collector. */
    async function gateways(count: number): Promise<Array<{ id: string; bus: RelayBus; got: Collector }>> {
      // Started concurrently: a Kafka group join takes a round of coordinator requests each.
      return Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const bus = await fx.newBus();
          open.push(bus);
          const got = collector();
          const id = gid(`gw${i + 1}`);
          await bus.start(id, got.handler);
          return { id, bus, got };
        }),
      );
    }

    beforeAll(async () => {
      fx = await factory();
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });
    afterAll(async () => {
      await fx?.teardown();
    });

    it('an addressed event reaches only its target gateway', async () => {
      const [a, b, c] = await gateways(3);
      await a!.bus.send(b!.id, sampleDeliver(a!.id, 't-1', 1));
      await b!.got.waitFor(1, fx.deliveryTimeoutMs);
      await delay(fx.quietMs);
      expect(b!.got.events).toEqual([sampleDeliver(a!.id, 't-1', 1)]);
      expect(a!.got.events).toEqual([]);
      expect(c!.got.events).toEqual([]);
      if (c!.bus.stats) expect(c!.bus.stats().consumed).toBe(0);
      if (b!.bus.stats) expect(b!.bus.stats()).toMatchObject({ consumed: 1, consumedAddressed: 1, consumedBroadcast: 0 });
      if (a!.bus.stats) expect(a!.bus.stats()).toMatchObject({ sent: 1, broadcast: 0, consumed: 0 });
    });

    it('a broadcast reaches every started gateway except the sender', async () => {
      const gws = await gateways(4);
      const ev: RelayEvent = { kind: 'resync', from: gws[0]!.id, terminalId: 't-b' };
      await gws[0]!.bus.broadcast(ev);
      for (const g of gws.slice(1)) expect(await g.got.waitFor(1, fx.deliveryTimeoutMs)).toEqual([ev]);
      await delay(fx.quietMs);
      expect(gws[0]!.got.events).toEqual([]);
      for (const g of gws.slice(1)) expect(g.got.events).toHaveLength(1);
      if (gws[1]!.bus.stats) expect(gws[1]!.bus.stats!()).toMatchObject({ consumed: 1, consumedBroadcast: 1, consumedAddressed: 0 });
      if (gws[0]!.bus.stats) expect(gws[0]!.bus.stats!()).toMatchObject({ broadcast: 1, sent: 0 });
    });

    it('every event kind round-trips unchanged (optional fields included)', async () => {
      const [a, b] = await gateways(2);
      const deliver = sampleDeliver(a!.id, 't-k', 7) as Extract<RelayEvent, { kind: 'deliver' }>;
      deliver.message.correlationId = 'corr-1';
      deliver.message.collapseKey = 'ck';
      const events: RelayEvent[] = [
        deliver,
        { kind: 'reply', from: a!.id, correlationId: 'corr-1', terminalId: 't-k', payload: { ok: true, list: [1, 'x', null] } },
        { kind: 'takeover', from: a!.id, terminalId: 't-k', connectionEpoch: 42 },
        { kind: 'resync', from: a!.id, terminalId: 't-k' },
      ];
      for (const e of events) await a!.bus.send(b!.id, e);
      expect(await b!.got.waitFor(4, fx.deliveryTimeoutMs)).toEqual(events);
    });

    it('delivery is asynchronous: the handler never runs inside send()', async () => {
      const bus = await fx.newBus();
      open.push(bus);
      const id = gid('self');
      let inSend = false;
      let calledInside = false;
      const got = collector();
      await bus.start(id, (e) => {
        if (inSend) calledInside = true;
        got.handler(e);
      });
      inSend = true;
      const p = bus.send(id, { kind: 'resync', from: id, terminalId: 't-async' });
      inSend = false;
      await p;
      await got.waitFor(1, fx.deliveryTimeoutMs);
      expect(calledInside).toBe(false);
    });

    it('keeps per-sender order for a burst of 1,000 to one target, with two senders interleaved', async () => {
      const [a, b, target] = await gateways(3);
      const sends: Array<Promise<void>> = [];
      for (let seq = 1; seq <= 1000; seq++) {
        // Not awaited one by one: a real engine fires sends concurrently.
        sends.push(a!.bus.send(target!.id, sampleDeliver(a!.id, 't-a', seq)));
        if (seq <= 300) sends.push(b!.bus.send(target!.id, sampleDeliver(b!.id, 't-b', seq)));
      }
      await Promise.all(sends);
      const got = await target!.got.waitFor(1300, fx.deliveryTimeoutMs * 4);
      const seqs = (from: string) => got.filter((e) => e.from === from).map((e) => (e.kind === 'deliver' ? e.message.seq : -1));
      expect(seqs(a!.id)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(seqs(b!.id)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(a!.got.events).toEqual([]);
      expect(b!.got.events).toEqual([]);
    });

    it('sending to a gateway that is not started resolves without error and reaches nobody', async () => {
      const [a, b] = await gateways(2);
      await expect(a!.bus.send(gid('ghost'), sampleDeliver(a!.id, 't-g', 1))).resolves.toBeUndefined();
      // The bus still works after the dropped event.
      await a!.bus.send(b!.id, sampleDeliver(a!.id, 't-g', 2));
      expect(await b!.got.waitFor(1, fx.deliveryTimeoutMs)).toEqual([sampleDeliver(a!.id, 't-g', 2)]);
      await delay(fx.quietMs);
      expect(b!.got.events).toHaveLength(1);
      expect(a!.got.events).toEqual([]);
    });

    it('close() stops delivery; sending to a closed gateway does not throw', async () => {
      const [a, b, c] = await gateways(3);
      await b!.bus.close();
      await expect(a!.bus.send(b!.id, sampleDeliver(a!.id, 't-c', 1))).resolves.toBeUndefined();
      await a!.bus.broadcast({ kind: 'resync', from: a!.id, terminalId: 't-c' });
      await c!.got.waitFor(1, fx.deliveryTimeoutMs);
      await delay(fx.quietMs);
      expect(b!.got.events).toEqual([]);
      expect(c!.got.events).toHaveLength(1);
      await expect(b!.bus.close()).resolves.toBeUndefined(); // idempotent
    });

    it('send/broadcast before start or after close reject with PCM_ERR_NOT_READY', async () => {
      const bus = await fx.newBus();
      open.push(bus);
      const ev: RelayEvent = { kind: 'resync', from: 'x', terminalId: 't' };
      await expect(bus.send('anyone', ev)).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_NOT_READY'));
      await expect(bus.broadcast(ev)).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_NOT_READY'));
      await bus.start(gid('late'), () => {});
      await bus.close();
      await expect(bus.send('anyone', ev)).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_NOT_READY'));
      await expect(bus.broadcast(ev)).rejects.toSatisfy((e: unknown) => isPcmError(e, 'PCM_ERR_NOT_READY'));
    });

    it('a handler that throws loses only that event; later events still arrive in order', async () => {
      const [a] = await gateways(1);
      const bus = await fx.newBus();
      open.push(bus);
      const id = gid('throws');
      const seen: number[] = [];
      await bus.start(id, (e) => {
        const seq = e.kind === 'deliver' ? e.message.seq : -1;
        seen.push(seq);
        if (seq === 2) throw new Error('handler bug');
      });
      for (let seq = 1; seq <= 4; seq++) await a!.bus.send(id, sampleDeliver(a!.id, 't-h', seq));
      const deadline = Date.now() + fx.deliveryTimeoutMs;
      while (seen.length < 4 && Date.now() < deadline) await delay(20);
      expect(seen).toEqual([1, 2, 3, 4]);
      if (bus.stats) expect(bus.stats().errors).toBe(1);
    });

    it('a gateway restarted under the same id receives events sent after its start', async () => {
      const [a] = await gateways(1);
      const id = gid('restart');
      const first = await fx.newBus();
      open.push(first);
      await first.start(id, () => {});
      await first.close();
      const second = await fx.newBus();
      open.push(second);
      const got = collector();
      await second.start(id, got.handler);
      await a!.bus.send(id, sampleDeliver(a!.id, 't-r', 1));
      await a!.bus.broadcast({ kind: 'resync', from: a!.id, terminalId: 't-r' });
      const events = await got.waitFor(2, fx.deliveryTimeoutMs);
      expect(events.map((e) => e.kind).sort()).toEqual(['deliver', 'resync']);
    });

    it('one bus cannot be started twice', async () => {
      const bus = await fx.newBus();
      open.push(bus);
      await bus.start(gid('twice'), () => {});
      await expect(bus.start(gid('twice'), () => {})).rejects.toSatisfy((e: unknown) => isPcmError(e));
    });
  });
}
