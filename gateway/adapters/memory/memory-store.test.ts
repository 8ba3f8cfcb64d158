import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from './memory-store.js';
import { MemorySessionDirectory } from './memory-directory.js';
import { ManualClock } from '../../../common/clock.js';

const T0 = 1_700_000_000_000;
const msg = (n: number, extra: Record<string, unknown> = {}) => ({
  terminalId: 't1',
  payload: JSON.stringify({ n }),
  ttlSeconds: 60,
  messageId: `m${n}`,
  ...extra,
});

describe('MemoryMessageStore (smoke; the full contract runs in memory.contract.test.ts)', () => {
  it('appends, pages, acks', async () => {
    const s = new MemoryMessageStore();
    const a = await s.append(msg(1), T0);
    const b = await s.append(msg(2), T0);
    expect([a.message.seq, b.message.seq]).toEqual([1, 2]);
    expect(a.epoch).toBe(b.epoch);
    expect((await s.pending('t1', { limit: 10, now: T0 })).map((m) => m.payload)).toEqual(['{"n":1}', '{"n":2}']);
    expect(await s.ack('t1', 1)).toEqual({ lastAckedSeq: 1, advanced: true });
    expect((await s.pending('t1', { limit: 10, now: T0 })).map((m) => m.seq)).toEqual([2]);
    expect(await s.state('t1')).toEqual({ epoch: a.epoch, lastSeq: 2, lastAckedSeq: 1 });
  });
});

describe('MemorySessionDirectory (smoke)', () => {
  it('claims with increasing epochs and expires', async () => {
    const clock = new ManualClock();
    const d = new MemorySessionDirectory(clock);
    const base = { terminalId: 't1', sessionId: 's1', protocol: 'websocket' as const, connectedAt: clock.now() };
    const a = await d.claim({ ...base, gatewayId: 'g1' }, 1000);
    const b = await d.claim({ ...base, gatewayId: 'g2' }, 1000);
    expect(b.presence.connectionEpoch).toBe(a.presence.connectionEpoch + 1);
    expect(b.previous?.gatewayId).toBe('g1');
    clock.advance(1000);
    expect(await d.lookup('t1')).toBeUndefined();
  });
});
