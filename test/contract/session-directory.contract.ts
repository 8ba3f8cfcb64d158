import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import type { Presence, SessionDirectory } from '../../gateway/ports/session-directory.js';

/**
 * The exported SessionDirectory contract (DESIGN.md section 3), aedes-persistence style.
 * `clock` is the time source the directory was built with; `timeTravel` (when the backend
 * expires records itself, e.g. Couchbase) must move the backend's clock AND `clock`.
 */
export interface SessionDirectoryHarness {
  directory: SessionDirectory;
  clock: ManualClock;
  timeTravel?: (ms: number) => Promise<void>;
  cleanup: () => Promise<void>;
}

export function sessionDirectoryContract(name: string, factory: () => Promise<SessionDirectoryHarness>): void {
  describe(`SessionDirectory contract: ${name}`, () => {
    let h: SessionDirectoryHarness;
    let dir: SessionDirectory;
    const TTL = 10_000;
    const tid = () => `t-${randomUUID().slice(0, 12)}`;
    const travel = async (ms: number) => {
      if (h.timeTravel) await h.timeTravel(ms);
      else h.clock.advance(ms);
    };
    const rec = (terminalId: string, gatewayId: string, sessionId = randomUUID()): Omit<Presence, 'connectionEpoch'> => ({
      terminalId,
      gatewayId,
      sessionId,
      protocol: 'websocket',
      connectedAt: h.clock.now(),
    });

    beforeEach(async () => {
      h = await factory();
      dir = h.directory;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('claim records presence and lookup returns it', async () => {
      const t = tid();
      expect(await dir.lookup(t)).toBeUndefined();
      const r = rec(t, 'g1');
      const c = await dir.claim({ ...r, protocol: 'mqtt' }, TTL);
      expect(c.previous).toBeUndefined();
      expect(c.presence).toEqual({ ...r, protocol: 'mqtt', connectionEpoch: c.presence.connectionEpoch });
      expect(c.presence.connectionEpoch).toBeGreaterThanOrEqual(1);
      expect(await dir.lookup(t)).toEqual(c.presence);
    });

    it('each claim gets a higher connectionEpoch and returns the live record it replaced', async () => {
      const t = tid();
      const a = await dir.claim(rec(t, 'g1'), TTL);
      const b = await dir.claim(rec(t, 'g2'), TTL);
      expect(b.presence.connectionEpoch).toBeGreaterThan(a.presence.connectionEpoch);
      expect(b.previous).toEqual(a.presence);
      const c = await dir.claim(rec(t, 'g2'), TTL);
      expect(c.presence.connectionEpoch).toBeGreaterThan(b.presence.connectionEpoch);
      expect(c.previous).toEqual(b.presence);
      expect(await dir.lookup(t)).toEqual(c.presence);
    });

    it('records expire after their ttl; a later claim still gets a higher epoch and no previous', async () => {
      const t = tid();
      const a = await dir.claim(rec(t, 'g1'), TTL);
      await travel(TTL - 2_000);
      expect(await dir.lookup(t)).toEqual(a.presence);
      await travel(3_000);
      expect(await dir.lookup(t)).toBeUndefined();
      const b = await dir.claim(rec(t, 'g2'), TTL);
      expect(b.previous).toBeUndefined();
      expect(b.presence.connectionEpoch).toBeGreaterThan(a.presence.connectionEpoch);
    });

    it('refresh extends only records still held by (gateway, epoch)', async () => {
      const held = tid();
      const wrongEpoch = tid();
      const wrongGateway = tid();
      const h1 = await dir.claim(rec(held, 'g1'), TTL);
      const h2 = await dir.claim(rec(wrongEpoch, 'g1'), TTL);
      const h3 = await dir.claim(rec(wrongGateway, 'g1'), TTL);
      await travel(6_000);
      await dir.refresh(
        [
          { terminalId: held, gatewayId: 'g1', connectionEpoch: h1.presence.connectionEpoch },
          { terminalId: wrongEpoch, gatewayId: 'g1', connectionEpoch: h2.presence.connectionEpoch + 1 },
          { terminalId: wrongGateway, gatewayId: 'g2', connectionEpoch: h3.presence.connectionEpoch },
          { terminalId: tid(), gatewayId: 'g1', connectionEpoch: 1 },
        ],
        TTL,
      );
      await travel(6_000);
      expect(await dir.lookup(held)).toEqual(h1.presence);
      expect(await dir.lookup(wrongEpoch)).toBeUndefined();
      expect(await dir.lookup(wrongGateway)).toBeUndefined();
    });

    it('refresh by the old owner does not extend the taker-over record', async () => {
      const t = tid();
      const old = await dir.claim(rec(t, 'g1'), TTL);
      const now = await dir.claim(rec(t, 'g2'), TTL);
      await travel(6_000);
      await dir.refresh([{ terminalId: t, gatewayId: 'g1', connectionEpoch: old.presence.connectionEpoch }], TTL);
      await travel(6_000);
      expect(await dir.lookup(t)).toBeUndefined();
      expect(now.presence.gatewayId).toBe('g2');
    });

    it('refresh does not create records', async () => {
      const t = tid();
      await dir.refresh([{ terminalId: t, gatewayId: 'g1', connectionEpoch: 1 }], TTL);
      expect(await dir.lookup(t)).toBeUndefined();
    });

    it('release is fenced by (gateway, epoch)', async () => {
      const t = tid();
      const a = await dir.claim(rec(t, 'g1'), TTL);
      await dir.release(t, 'g1', a.presence.connectionEpoch + 1);
      await dir.release(t, 'g2', a.presence.connectionEpoch);
      expect(await dir.lookup(t)).toEqual(a.presence);
      await dir.release(t, 'g1', a.presence.connectionEpoch);
      expect(await dir.lookup(t)).toBeUndefined();
      // releasing again (or an unknown terminal) is harmless
      await dir.release(t, 'g1', a.presence.connectionEpoch);
      await dir.release(tid(), 'g1', 1);
    });

    it('a stale owner releasing after a takeover leaves the new record', async () => {
      const t = tid();
      const a = await dir.claim(rec(t, 'g1'), TTL);
      const b = await dir.claim(rec(t, 'g2'), TTL);
      await dir.release(t, 'g1', a.presence.connectionEpoch);
      expect(await dir.lookup(t)).toEqual(b.presence);
    });

    it('concurrent claims get distinct epochs and the highest one holds the record', async () => {
      const t = tid();
      const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => dir.claim(rec(t, `g${i}`), TTL)));
      const epochs = claims.map((c) => c.presence.connectionEpoch);
      expect(new Set(epochs).size).toBe(10);
      const top = claims.find((c) => c.presence.connectionEpoch === Math.max(...epochs))!;
      expect(await dir.lookup(t)).toEqual(top.presence);
    });

    it('terminals are isolated', async () => {
      const a = tid();
      const b = tid();
      const ca = await dir.claim(rec(a, 'g1'), TTL);
      const cb = await dir.claim(rec(b, 'g2'), TTL);
      expect(cb.previous).toBeUndefined();
      await dir.release(a, 'g1', ca.presence.connectionEpoch);
      expect(await dir.lookup(b)).toEqual(cb.presence);
    });
  });
}
