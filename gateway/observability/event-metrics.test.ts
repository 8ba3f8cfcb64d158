import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { TerminalEvent } from '../ports/timeline.js';
import { EventMetrics, SentTimes } from './event-metrics.js';

/** pcm_send_to_ack_seconds as {count, sum} after the events. */
async function sendToAck(events: Omit<TerminalEvent, 'gatewayId'>[]): Promise<{ count: number; sum: number }> {
  const registry = new Registry();
  const m = new EventMetrics(registry);
  for (const e of events) m.record({ gatewayId: 'gw', ...e } as TerminalEvent);
  const text = await registry.metrics();
  const val = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  return { count: val('pcm_send_to_ack_seconds_count'), sum: Math.round(val('pcm_send_to_ack_seconds_sum') * 1000) };
}

const sent = (terminalId: string, seq: number, at: number) => ({ type: 'sent' as const, terminalId, seq, at });
const acked = (terminalId: string, seq: number, at: number) => ({ type: 'acked' as const, terminalId, seq, at });

describe('EventMetrics: pcm_send_to_ack_seconds', () => {
  it('a cumulative ack observes every send it covers, once, per terminal', async () => {
    expect(
      await sendToAck([
        sent('a', 1, 1000),
        sent('a', 2, 1010),
        sent('b', 1, 1020),
        sent('a', 3, 1030),
        acked('a', 2, 1100), // a1 100 ms, a2 90 ms
        acked('a', 2, 1200), // repeated: nothing more
        acked('b', 1, 1050), // b1 30 ms
        acked('a', 3, 1130), // a3 100 ms
        acked('a', 9, 1300), // nothing left
      ]),
    ).toEqual({ count: 4, sum: 320 });
  });

  it('seqs sent elsewhere leave gaps; an expired seq is never observed; sends only seen here count', async () => {
    expect(
      await sendToAck([
        acked('c', 5, 900), // nothing sent here yet
        sent('c', 2, 1000),
        sent('c', 5, 1000),
        sent('c', 7, 1000),
        { type: 'expired', terminalId: 'c', seq: 5, at: 1001 },
        acked('c', 6, 1040), // 2 (40 ms); 5 expired
        acked('c', 7, 1070), // 7 (70 ms)
      ]),
    ).toEqual({ count: 2, sum: 110 });
  });

  it('keeps at most the last 256 unacked sends of a terminal', async () => {
    const events: Omit<TerminalEvent, 'gatewayId'>[] = Array.from({ length: 300 }, (_, i) => sent('d', i + 1, 1000));
    events.push(acked('d', 300, 1001));
    expect(await sendToAck(events)).toEqual({ count: 256, sum: 256 });
  });

  it('a terminal that never acks holds a bounded number of send times', () => {
    const q = new SentTimes();
    for (let seq = 1; seq <= 10_000; seq++) q.add(seq, seq);
    expect(q.slots).toBeLessThanOrEqual(512);
    const seen: number[] = [];
    q.ackUpTo(10_000, 10_000, { observe: (s) => seen.push(s) });
    expect(seen.length).toBe(256); // the last 256 sends
    expect(q.slots).toBe(0);
  });
});
