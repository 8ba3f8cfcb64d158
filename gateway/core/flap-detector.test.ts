import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../adapters/inprocess/inprocess-relay.js';
import type { Clock } from '../../common/clock.js';
import { DeliveryEngine } from './engine.js';
import { noopMetrics } from './metrics.js';
import { FlapDetector } from './flap-detector.js';
import { RecordingConnection } from './test-support/recording-connection.js';

const refusedFor = (v: ReturnType<FlapDetector['onConnect']>) => (v.ok ? undefined : v.retryAfterMs);

describe('FlapDetector', () => {
  it('admits `limit` connects per window, then refuses with a penalty that doubles per episode, capped', () => {
    const d = new FlapDetector({ limit: 3, windowMs: 1000, basePenaltyMs: 100, maxPenaltyMs: 250 });
    expect([0, 1, 2].map((t) => d.onConnect('t', t).ok)).toEqual([true, true, true]);
    const first = d.onConnect('t', 3);
    expect(first).toEqual({ ok: false, retryAfterMs: 100, flagged: true, strikes: 1, connects: 3 });
    // Back early: refused with what is left, not flagged again, no growth.
    expect(d.onConnect('t', 50)).toMatchObject({ ok: false, retryAfterMs: 53, flagged: false });
    // Penalty over: a fresh count of `limit`, then a doubled penalty, then the cap.
    expect([103, 104, 105].map((t) => d.onConnect('t', t).ok)).toEqual([true, true, true]);
    expect(refusedFor(d.onConnect('t', 106))).toBe(200);
    expect([306, 307, 308].map((t) => d.onConnect('t', t).ok)).toEqual([true, true, true]);
    expect(refusedFor(d.onConnect('t', 309))).toBe(250);
    expect(d.onConnect('other', 310).ok).toBe(true); // per terminal
  });

  it('is a sliding window: connects spread wider than the window never trip it', () => {
    const d = new FlapDetector({ limit: 2, windowMs: 1000 });
    for (let t = 0; t < 20_000; t += 600) expect(d.onConnect('steady', t).ok).toBe(true);
  });

  it('forgives after a quiet window: the next episode starts from the base penalty', () => {
    const d = new FlapDetector({ limit: 1, windowMs: 1000, basePenaltyMs: 100, maxPenaltyMs: 10_000 });
    d.onConnect('t', 0);
    expect(refusedFor(d.onConnect('t', 1))).toBe(100);
    d.onConnect('t', 101);
    expect(refusedFor(d.onConnect('t', 102))).toBe(200);
    d.onConnect('t', 5000); // more than a window after the last penalty ended
    expect(refusedFor(d.onConnect('t', 5001))).toBe(100);
  });

  it('excuse(): the reconnect the server asked for is free and not counted', () => {
    const d = new FlapDetector({ limit: 2, windowMs: 1000, basePenaltyMs: 100 });
    d.onConnect('t', 0);
    d.onConnect('t', 1);
    d.excuse('t', 500, 2);
    expect(d.onConnect('t', 400).ok).toBe(true); // excused
    expect(d.onConnect('t', 401).ok).toBe(false); // the excuse is used up; the count is still 2
  });

  it('limit 0 turns it off; memory is bounded by maxTerminals', () => {
    const off = new FlapDetector({ limit: 0 });
    for (let i = 0; i < 100; i++) expect(off.onConnect('t', i).ok).toBe(true);
    const d = new FlapDetector({ maxTerminals: 50 });
    for (let i = 0; i < 1000; i++) d.onConnect(`t-${i}`, i);
    expect(d.size).toBe(50);
  });
});

describe('engine: flapping detection', () => {
  const setup = (clock: Clock) => {
    const refusals: boolean[] = [];
    const e = new DeliveryEngine(
      { gatewayId: 'g', heartbeatSeconds: 30, maxSessions: 10, resyncIntervalMs: 0, flapping: { limit: 2, windowMs: 60_000, basePenaltyMs: 5000 }, takeoverDamping: { limit: 1, windowMs: 60_000, baseDelayMs: 1000 } },
      { store: new MemoryMessageStore(), directory: new MemorySessionDirectory(), relay: new InProcessRelayHub().bus(), clock, metrics: { ...noopMetrics, flapRefused: (f) => refusals.push(f) } },
    );
    return { e, refusals };
  };

  it('refuses the connect after the limit with the retry hint and counts it', async () => {
    let now = 1_000_000;
    const { e, refusals } = setup({ now: () => now });
    await e.start();
    for (let i = 0; i < 2; i++) {
      expect(e.admitTerminal('flappy')).toEqual({ ok: true });
      const c = new RecordingConnection('flappy');
      await e.connect(c);
      e.disconnected(c);
      now += 100;
    }
    expect(e.admitTerminal('flappy')).toEqual({ ok: false, retryAfterMs: 5000 });
    expect(e.admitTerminal('flappy')).toEqual({ ok: false, retryAfterMs: 5000 }); // same clock: the rest
    expect(e.admitTerminal('calm')).toEqual({ ok: true });
    expect(refusals).toEqual([true, false]);
    await e.close();
  });

  it('a terminal drained by the gateway (scale-down) is not punished for coming back', async () => {
    let now = 1_000_000;
    const { e } = setup({ now: () => now });
    await e.start();
    // Two counted connects: the limit is reached.
    e.admitTerminal('d');
    const first = new RecordingConnection('d');
    await e.connect(first);
    e.disconnected(first);
    e.admitTerminal('d');
    const second = new RecordingConnection('d');
    await e.connect(second);
    e.startDrain({ ratePerSecond: 1000, windowMs: 1000 });
    await new Promise((r) => setTimeout(r, 10));
    const drain = second.frames.find((f) => f.type === 'drain');
    expect(drain).toMatchObject({ type: 'drain', reason: 'scale-down' });
    now += 500;
    expect(e.admitTerminal('d')).toEqual({ ok: true }); // the reconnect it was told to make
    expect(e.admitTerminal('d').ok).toBe(false); // but only that one
    await e.close();
  });

  it('a takeover-loop refusal is not excused: that loop is the terminal\'s own', async () => {
    let now = 1_000_000;
    const { e } = setup({ now: () => now });
    await e.start();
    const a = new RecordingConnection('dup');
    const b = new RecordingConnection('dup');
    expect(e.admitTerminal('dup').ok).toBe(true);
    await e.connect(a);
    expect(e.admitTerminal('dup').ok).toBe(true);
    await e.connect(b); // takeover 1 (the damper's limit)
    const c = new RecordingConnection('dup');
    await e.connect(c); // refused by the takeover damper, never admitted at the door (test drives the engine directly)
    expect(c.frames.find((f) => f.type === 'drain')).toMatchObject({ reason: 'takeover-loop' });
    now += 1000;
    expect(e.admitTerminal('dup').ok).toBe(false);
    await e.close();
  });
});
