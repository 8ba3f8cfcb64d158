/**
 * Hashing under hostile and odd input (issue 8), complementing discovery/core/assignment.test.ts
 * (stability, 1/N movement, draining, weights): the hash is pinned to golden values (every
 * discovery replica and every release must agree, or the whole fleet reshuffles), any string
 * hashes into (0, 1), the winner is always an assignable gateway from the list, and gateways
 * that cannot be assigned (draining, weight 0, negative, NaN, Infinity) change nothing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assignGateway, hash01, hash53 } from '../../discovery/core/assignment.js';

type G = { id: string; weight: number; draining: boolean };
const RUNS = { numRuns: 500 };

const gatewaysArb = fc.uniqueArray(
  fc.record({ id: fc.string({ minLength: 1, maxLength: 30 }), weight: fc.oneof(fc.constant(1), fc.double({ min: 0.01, max: 100, noNaN: true })), draining: fc.boolean() }),
  { minLength: 0, maxLength: 10, selector: (g) => g.id },
);
const hostileString = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 5000 }));
const unassignable = fc.record({
  id: fc.string({ minLength: 1, maxLength: 30 }),
  weight: fc.constantFrom(0, -1, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
  draining: fc.boolean(),
});

describe('rendezvous hashing under hostile input', () => {
  it('golden values: hash53/hash01 are part of the contract and must not change', () => {
    expect(hash53('pcm-gateway-0\u0000term-1')).toBe(562174134769430);
    expect(hash53('pcm-gateway-1\u0000term-1')).toBe(6484538049262773);
    expect(hash53('gw-0\u0000a')).toBe(3255218122835556);
    expect(hash53('\u0000')).toBe(4446763975410778);
    expect(hash01('pcm-gateway-2', 'T:0001.x_y-z')).toBe(0.2924545572357798);
  });

  it('any pair of strings (unicode, lone surrogates, 5,000 characters) hashes into the open unit interval, deterministically', () => {
    fc.assert(
      fc.property(hostileString, hostileString, (g, t) => {
        const h = hash01(g, t);
        expect(h > 0 && h < 1).toBe(true);
        expect(hash01(g, t)).toBe(h);
        expect(Number.isSafeInteger(hash53(g + t))).toBe(true);
      }),
      RUNS,
    );
  });

  it('the winner is always an assignable gateway of the list, or undefined when there is none', () => {
    fc.assert(
      fc.property(gatewaysArb, hostileString, (gws, terminal) => {
        const winner = assignGateway(terminal, gws);
        const assignable = gws.filter((g) => !g.draining && g.weight > 0);
        if (assignable.length === 0) expect(winner).toBeUndefined();
        else {
          expect(assignable).toContain(winner);
        }
      }),
      RUNS,
    );
  });

  it('adding gateways that cannot be assigned (draining, weight 0/negative/NaN/Infinity) changes no assignment', () => {
    fc.assert(
      fc.property(gatewaysArb, fc.array(unassignable, { maxLength: 5 }), fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 20 }), (gws, bad, terminals) => {
        const ids = new Set(gws.map((g) => g.id));
        const all: G[] = [...gws, ...bad.filter((b) => !ids.has(b.id))];
        for (const t of terminals) expect(assignGateway(t, all)?.id).toBe(assignGateway(t, gws)?.id);
      }),
      RUNS,
    );
  });

  it('raising one gateway\'s weight only moves terminals to it', () => {
    fc.assert(
      fc.property(gatewaysArb.filter((g) => g.filter((x) => !x.draining).length >= 2), fc.nat(), fc.double({ min: 1.01, max: 10, noNaN: true }), (gws, pick, factor) => {
        const live = gws.filter((g) => !g.draining);
        const target = live[pick % live.length]!;
        const raised = gws.map((g) => (g.id === target.id ? { ...g, weight: g.weight * factor } : g));
        for (let i = 0; i < 200; i++) {
          const t = `term-${i}`;
          const before = assignGateway(t, gws)!.id;
          const after = assignGateway(t, raised)!.id;
          if (before !== after) expect(after).toBe(target.id);
        }
      }),
      { numRuns: 100 },
    );
  });
});
