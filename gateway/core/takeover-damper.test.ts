import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../adapters/memory/memory-store.js';
import { MemorySessionDirectory } from '../adapters/memory/memory-directory.js';
import { InProcessRelayHub } from '../adapters/inprocess/inprocess-relay.js';
import { DeliveryEngine } from './engine.js';
import { noopMetrics } from './metrics.js';
import { TakeoverDamper } from './takeover-damper.js';
import { RecordingConnection } from './test-support/recording-connection.js';

describe('TakeoverDamper', () => {
  it('allows `limit` takeovers per window, then refuses with doubling, capped delays; a quiet window resets', () => {
    const d = new TakeoverDamper({ limit: 3, windowMs: 1000, baseDelayMs: 100, maxDelayMs: 350 });
    expect([0, 1, 2].map((t) => d.onTakeover('t', t))).toEqual([undefined, undefined, undefined]);
    expect([3, 4, 5, 6].map((t) => d.onTakeover('t', t))).toEqual([100, 200, 350, 350]);
    expect(d.onTakeover('other', 7)).toBeUndefined(); // per terminal
    expect(d.onTakeover('t', 5000)).toBeUndefined(); // window passed
  });
});

describe('engine: takeover loop (two devices, one terminal id)', () => {
  it('after the limit, the newcomer gets drain{reason:"takeover-loop"} and the session in place stays', async () => {
    const e = new DeliveryEngine(
      { gatewayId: 'g', heartbeatSeconds: 30, maxSessions: 10, resyncIntervalMs: 0, takeoverDamping: { limit: 2, windowMs: 60_000, baseDelayMs: 1000 } },
      { store: new MemoryMessageStore(), directory: new MemorySessionDirectory(), relay: new InProcessRelayHub().bus(), metrics: noopMetrics },
    );
    await e.start();
    const conns = [0, 1, 2, 3].map(() => new RecordingConnection('dup'));
    for (const c of conns) await e.connect(c);
    // conns[1] and conns[2] each took over (limit 2); conns[3] is refused and conns[2] keeps the session.
    const drain = conns[3]!.frames.find((f) => f.type === 'drain');
    expect(drain).toEqual({ type: 'drain', reconnectAfterMs: 1000, reason: 'takeover-loop' });
    expect(conns[3]!.frames.some((f) => f.type === 'welcome')).toBe(false);
    expect(conns[2]!.frames.some((f) => f.type === 'error')).toBe(false);
    expect(conns[1]!.frames.some((f) => f.type === 'error' && f.code === 'PCM_ERR_SESSION_TAKEN_OVER')).toBe(true);
    await e.submit({ terminalId: 'dup', payload: '"x"', ttlSeconds: 60 });
    await new Promise((r) => setTimeout(r, 20));
    expect(conns[2]!.seqs()).toEqual([1]);
    await e.close();
  });
});

describe('engine: the latest dial wins a takeover, not the connection finished last', () => {
  it('a connection that dialed before the session in place is closed with SESSION_TAKEN_OVER; the live session stays', async () => {
    const e = new DeliveryEngine(
      { gatewayId: 'g', heartbeatSeconds: 30, maxSessions: 10, resyncIntervalMs: 0 },
      { store: new MemoryMessageStore(), directory: new MemorySessionDirectory(), relay: new InProcessRelayHub().bus(), metrics: noopMetrics },
    );
    await e.start();
    const live = Object.assign(new RecordingConnection('storm'), { dialedAt: 2000 });
    const stale = Object.assign(new RecordingConnection('storm'), { dialedAt: 1000 });
    const newer = Object.assign(new RecordingConnection('storm'), { dialedAt: 3000 });
    await e.connect(live);
    await e.connect(stale); // finished after `live`, but dialed before it
    expect(stale.frames).toEqual([{ type: 'error', code: 'PCM_ERR_SESSION_TAKEN_OVER', message: 'a newer connection of this terminal is already in place' }]);
    expect(live.frames.some((f) => f.type === 'error')).toBe(false);
    await e.submit({ terminalId: 'storm', payload: '"x"', ttlSeconds: 60 });
    await new Promise((r) => setTimeout(r, 20));
    expect(live.seqs()).toEqual([1]);
    await e.connect(newer); // a later dial still takes over as before
    expect(live.frames.some((f) => f.type === 'error' && f.code === 'PCM_ERR_SESSION_TAKEN_OVER')).toBe(true);
    await e.close();
  });
});
