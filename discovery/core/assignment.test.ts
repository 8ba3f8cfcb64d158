import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assignGateway, assignWithFailover, hash01 } from './assignment.js';

type G = { id: string; weight: number; draining: boolean };
const gw = (id: string, weight = 1, draining = false): G => ({ id, weight, draining });
const ids = (n: number, prefix = 'term-') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const TERMINALS = ids(10_000);

function assignAll(gateways: readonly G[], terminals = TERMINALS): Map<string, string | undefined> {
  return new Map(terminals.map((t) => [t, assignGateway(t, gateways)?.id]));
}

// Distinct gateway ids, 2..12 of them, in the shape the operator uses (pod names) or arbitrary.
const gatewayIds = fc.uniqueArray(fc.oneof(fc.nat(50).map((n) => `pcm-gateway-${n}`), fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/)), {
  minLength: 2,
  maxLength: 12,
});

describe('rendezvous assignment (DESIGN.md section 5)', () => {
  it('hash01 stays inside the open unit interval', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const h = hash01(a, b);
        return h > 0 && h < 1;
      }),
    );
  });

  it('is stable: the same set in any order gives the same gateway', () => {
    fc.assert(
      fc.property(gatewayIds, fc.string({ minLength: 1, maxLength: 40 }), fc.integer(), (gids, terminal, seed) => {
        const gs = gids.map((id) => gw(id));
        const shuffled = [...gs].sort((a, b) => ((hashInt(a.id, seed) - hashInt(b.id, seed)) | 0));
        expect(assignGateway(terminal, shuffled)?.id).toBe(assignGateway(terminal, gs)?.id);
        expect(assignGateway(terminal, gs)?.id).toBe(assignGateway(terminal, gs.map((g) => ({ ...g })))?.id);
      }),
    );
  });

  it('adding one of N gateways moves about 1/N of 10,000 terminals, all of them to the new one', () => {
    fc.assert(
      fc.property(gatewayIds, (gids) => {
        const before = gids.slice(0, -1).map((id) => gw(id));
        const added = gw(gids[gids.length - 1]!);
        const a = assignAll(before);
        const b = assignAll([...before, added]);
        let moved = 0;
        for (const t of TERMINALS) {
          if (a.get(t) !== b.get(t)) {
            moved++;
            // never between two unchanged gateways
            expect(b.get(t)).toBe(added.id);
          }
        }
        const n = gids.length;
        const expected = TERMINALS.length / n;
        // binomial sd = sqrt(n p (1-p)) <= 50; 6 sd keeps the property exact-free of flakes
        expect(Math.abs(moved - expected)).toBeLessThan(6 * Math.sqrt(TERMINALS.length * (1 / n) * (1 - 1 / n)) + 1);
      }),
      { numRuns: 15 },
    );
  }, 90_000);

  it('removing one of N gateways moves only its terminals, about 1/N', () => {
    fc.assert(
      fc.property(gatewayIds, fc.nat(), (gids, pick) => {
        const all = gids.map((id) => gw(id));
        const removed = all[pick % all.length]!;
        const rest = all.filter((g) => g !== removed);
        const a = assignAll(all);
        const b = assignAll(rest);
        let moved = 0;
        for (const t of TERMINALS) {
          if (a.get(t) !== b.get(t)) {
            moved++;
            expect(a.get(t)).toBe(removed.id);
          }
        }
        const n = all.length;
        expect(Math.abs(moved - TERMINALS.length / n)).toBeLessThan(6 * Math.sqrt(TERMINALS.length * (1 / n) * (1 - 1 / n)) + 1);
      }),
      { numRuns: 15 },
    );
  }, 90_000);

  it('draining gateways get no terminals; only their own terminals move', () => {
    fc.assert(
      fc.property(gatewayIds, fc.nat(), (gids, pick) => {
        const all = gids.map((id) => gw(id));
        const i = pick % all.length;
        const drained = all.map((g, j) => (j === i ? { ...g, draining: true } : g));
        const a = assignAll(all, TERMINALS.slice(0, 2000));
        const b = assignAll(drained, TERMINALS.slice(0, 2000));
        for (const [t, g] of b) {
          expect(g).not.toBe(all[i]!.id);
          if (a.get(t) !== g) expect(a.get(t)).toBe(all[i]!.id);
        }
      }),
      { numRuns: 15 },
    );
  }, 90_000);

  it('a gateway marked ready: false (pod not Ready) gets no terminals, like a draining one', () => {
    const gs = [gw('gw-a'), { ...gw('gw-b'), ready: false as const }, gw('gw-c')];
    const got = assignAll(gs, TERMINALS.slice(0, 2000));
    expect([...got.values()]).not.toContain('gw-b');
    expect(new Set(got.values())).toEqual(new Set(['gw-a', 'gw-c']));
    expect(assignGateway('t-1', [{ ...gw('only'), ready: false as const }])).toBeUndefined();
  });

  it('no assignable gateway gives undefined', () => {
    expect(assignGateway('t-1', [])).toBeUndefined();
    expect(assignGateway('t-1', [gw('a', 1, true), gw('b', 0)])).toBeUndefined();
  });

  it('weights share the terminals proportionally', () => {
    const gs = [gw('gw-a', 1), gw('gw-b', 2), gw('gw-c', 1)];
    const counts = new Map<string, number>();
    for (const t of TERMINALS) {
      const g = assignGateway(t, gs)!.id;
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    // expected 2,500 / 5,000 / 2,500; sd about 50
    expect(Math.abs(counts.get('gw-b')! - 5000)).toBeLessThan(300);
    expect(Math.abs(counts.get('gw-a')! - 2500)).toBeLessThan(300);
    expect(Math.abs(counts.get('gw-c')! - 2500)).toBeLessThan(300);
  });

  it('failover: a terminal reporting its gateway unreachable gets the gateway it would get if that one left the set', () => {
    fc.assert(
      fc.property(gatewayIds, fc.nat(), (gids, pick) => {
        const all = gids.map((id) => gw(id));
        const lost = all[pick % all.length]!;
        const without = all.filter((g) => g !== lost);
        for (const t of TERMINALS.slice(0, 1000)) {
          const r = assignWithFailover(t, all, new Set([lost.id]));
          const home = assignGateway(t, all)!;
          expect(r.home).toBe(home);
          if (home.id === lost.id) {
            expect(r.failover).toBe(true);
            expect(r.gateway!.id).toBe(assignGateway(t, without)!.id);
          } else {
            // a report about another gateway changes nothing for this terminal
            expect(r.failover).toBe(false);
            expect(r.gateway).toBe(home);
          }
        }
      }),
      { numRuns: 15 },
    );
  }, 90_000);

  it('failover spreads a lost gateway\'s terminals over the others by weight, never to draining or unready ones', () => {
    const gs = [gw('gw-a', 1), gw('gw-b', 1), gw('gw-c', 2), gw('gw-d', 1, true), { ...gw('gw-e'), ready: false as const }];
    const counts = new Map<string, number>();
    for (const t of TERMINALS) {
      const r = assignWithFailover(t, gs, new Set(['gw-a']));
      if (r.home!.id !== 'gw-a') continue;
      counts.set(r.gateway!.id, (counts.get(r.gateway!.id) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(['gw-b', 'gw-c']);
    const moved = counts.get('gw-b')! + counts.get('gw-c')!;
    expect(Math.abs(counts.get('gw-c')! / moved - 2 / 3)).toBeLessThan(0.05);
  });

  it('failover with every assignable gateway reported unreachable answers the home gateway; unknown ids are ignored', () => {
    const gs = [gw('gw-a'), gw('gw-b'), gw('gw-c', 1, true)];
    for (const t of TERMINALS.slice(0, 200)) {
      const home = assignGateway(t, gs)!;
      expect(assignWithFailover(t, gs, new Set(['gw-a', 'gw-b']))).toEqual({ gateway: home, home, failover: false });
      expect(assignWithFailover(t, gs, new Set(['gw-zz', 'gw-c']))).toEqual({ gateway: home, home, failover: false });
    }
    expect(assignWithFailover('t-1', [], new Set(['gw-a']))).toEqual({ gateway: undefined, home: undefined, failover: false });
  });

  it('spreads equal-weight terminals evenly', () => {
    const gs = ids(5, 'pcm-gateway-').map((id) => gw(id));
    const counts = new Map<string, number>();
    for (const t of TERMINALS) counts.set(assignGateway(t, gs)!.id, (counts.get(assignGateway(t, gs)!.id) ?? 0) + 1);
    for (const c of counts.values()) expect(Math.abs(c - 2000)).toBeLessThan(250);
  });
});

function hashInt(s: string, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h;
}
