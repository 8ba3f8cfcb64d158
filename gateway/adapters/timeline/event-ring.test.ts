import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { TerminalEvent } from '../../ports/timeline.js';
import { EventRing, StringTable, packUuid, unpackUuid } from './event-ring.js';
import { MemoryTimeline } from './memory-timeline.js';

describe('event ring (packed timeline storage)', () => {
  it('packs canonical lowercase UUIDs exactly and refuses anything else', () => {
    const out = new Float64Array(3);
    for (let i = 0; i < 200; i++) {
      const id = randomUUID();
      expect(packUuid(id, out, 0)).toBe(true);
      expect(unpackUuid(out[0]!, out[1]!, out[2]!)).toBe(id);
    }
    for (const id of ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']) {
      expect(packUuid(id, out, 0)).toBe(true);
      expect(unpackUuid(out[0]!, out[1]!, out[2]!)).toBe(id);
    }
    for (const bad of ['', 'm-1', randomUUID().toUpperCase(), `${randomUUID()}x`, 'g0000000-0000-0000-0000-000000000000', '0000000000000-000-0000-000000000000']) {
      expect(packUuid(bad, out, 0)).toBe(false);
    }
  });

  it('reads every field back as recorded, with or without UUID ids, newest first', () => {
    const strings = new StringTable();
    const ring = new EventRing(10);
    const events: TerminalEvent[] = [
      { terminalId: 't', type: 'connected', at: 1, protocol: 'websocket', gatewayId: 'gw-a' },
      { terminalId: 't', type: 'sent', at: 2, seq: 1, messageId: randomUUID(), gatewayId: 'gw-a' },
      { terminalId: 't', type: 'delivered', at: 3, seq: 1, messageId: 'not-a-uuid', protocol: 'websocket', gatewayId: 'gw-a' },
      { terminalId: 't', type: 'request', at: 4, seq: 2, messageId: randomUUID(), correlationId: 'c-1.gw-a', gatewayId: 'gw-a' },
      { terminalId: 't', type: 'reply', at: 5, correlationId: 'c-1.gw-a', gatewayId: 'gw-a' },
      { terminalId: 't', type: 'acked', at: 6, seq: 0, gatewayId: 'gw-a' },
      { terminalId: 't', type: 'expired', at: 7, seq: 3, messageId: randomUUID(), reason: 'ttl 0: terminal not connected', gatewayId: 'gw-a' },
      { terminalId: 't', type: 'disconnected', at: 8.5, protocol: 'mqtt', reason: 'connection closed', gatewayId: 'gw-b' },
    ];
    for (const e of events) ring.push(e, strings);
    expect(ring.recent('t', 0, 100, strings)).toEqual([...events].reverse());
    expect(ring.recent('t', 0, 2, strings)).toEqual([events[7], events[6]]);
    expect(ring.recent('t', 6, 100, strings)).toEqual([events[7], events[6], events[5]]);
  });

  it('keeps the newest max events across growth and wrap-around (any sequence)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 200 }), (max, count) => {
        const strings = new StringTable();
        const ring = new EventRing(max);
        const all: TerminalEvent[] = [];
        for (let i = 0; i < count; i++) {
          const e: TerminalEvent = { terminalId: 'x', type: i % 2 ? 'sent' : 'acked', at: 1000 + i, seq: i, messageId: i % 3 ? randomUUID() : `id-${i}`, gatewayId: 'gw' };
          all.push(e);
          ring.push(e, strings);
        }
        expect(ring.recent('x', 0, 1000, strings)).toEqual(all.slice(-max).reverse());
      }),
      { numRuns: 200 },
    );
  });

  it('keeps strings past the table size in the event itself', () => {
    const strings = new StringTable();
    const ring = new EventRing(5000);
    const events: TerminalEvent[] = [];
    for (let i = 0; i < 4200; i++) {
      const e: TerminalEvent = { terminalId: 'x', type: 'disconnected', at: i, reason: `reason ${i}`, protocol: 'websocket' };
      events.push(e);
      ring.push(e, strings);
    }
    const back = ring.recent('x', 0, 5000, strings);
    expect(back).toHaveLength(4200);
    expect(back.reverse()).toEqual(events);
  });

  it('the memory timeline returns events recorded for each terminal only', async () => {
    const tl = new MemoryTimeline({ maxPerTerminal: 3, ttlMs: 60_000 }, () => 10_000);
    const id = randomUUID();
    tl.record({ terminalId: 'a', type: 'sent', at: 9_000, seq: 1, messageId: id, gatewayId: 'g' });
    tl.record({ terminalId: 'b', type: 'connected', at: 9_001, protocol: 'mqtt', gatewayId: 'g' });
    expect(await tl.recent('a')).toEqual([{ terminalId: 'a', type: 'sent', at: 9_000, seq: 1, messageId: id, gatewayId: 'g' }]);
    expect(await tl.recent('b')).toEqual([{ terminalId: 'b', type: 'connected', at: 9_001, protocol: 'mqtt', gatewayId: 'g' }]);
    expect(await tl.recent('c')).toEqual([]);
  });
});
