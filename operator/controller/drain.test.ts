import { describe, expect, it } from 'vitest';
import { planGateways, type DrainInput } from './drain.js';

const T0 = Date.parse('2026-11-27T00:00:00Z');
const base = (over: Partial<DrainInput>): DrainInput => ({
  specReplicas: 3,
  currentReplicas: 3,
  publishedDeadlines: new Map(),
  drained: new Set(),
  now: T0,
  drainSeconds: 60,
  ...over,
});

describe('planGateways (graceful scale-down)', () => {
  it('steady state and scale-up: StatefulSet follows the spec, nobody drains', () => {
    expect(planGateways(base({}))).toEqual({ statefulSetReplicas: 3, members: [0, 1, 2].map((ordinal) => ({ ordinal, draining: false })), draining: [] });
    expect(planGateways(base({ specReplicas: 5 })).statefulSetReplicas).toBe(5);
    expect(planGateways(base({ currentReplicas: undefined })).statefulSetReplicas).toBe(3);
  });

  it('scale-down first marks the leaving (highest) ordinals draining and keeps the StatefulSet size', () => {
    const p = planGateways(base({ specReplicas: 2, currentReplicas: 5 }));
    expect(p.statefulSetReplicas).toBe(5);
    expect(p.draining).toEqual([2, 3, 4]);
    expect(p.members[1]).toEqual({ ordinal: 1, draining: false });
    expect(p.members[4]).toEqual({ ordinal: 4, draining: true, drainDeadline: new Date(T0 + 60_000).toISOString() });
    expect(p.requeueAfterMs).toBe(60_000);
  });

  it('keeps the published deadline across passes (and operator restarts), shrinking once it passes', () => {
    const deadline = new Date(T0 + 60_000).toISOString();
    const published = new Map([2, 3, 4].map((o) => [o, deadline] as [number, string]));
    const mid = planGateways(base({ specReplicas: 2, currentReplicas: 5, publishedDeadlines: published, now: T0 + 30_000 }));
    expect(mid.members[3]!.drainDeadline).toBe(deadline);
    expect(mid.requeueAfterMs).toBe(30_000);
    const after = planGateways(base({ specReplicas: 2, currentReplicas: 5, publishedDeadlines: published, now: T0 + 60_000 }));
    expect(after).toEqual({ statefulSetReplicas: 2, members: [0, 1].map((ordinal) => ({ ordinal, draining: false })), draining: [], requeueAfterMs: undefined });
  });

  it('a gateway that reports empty goes early, but only from the top down', () => {
    const p = planGateways(base({ specReplicas: 2, currentReplicas: 5, drained: new Set([4, 2]) }));
    expect(p.statefulSetReplicas).toBe(4); // 3 still evacuating keeps ordinal 3 and thus 0..3
    expect(p.draining).toEqual([2, 3]);
    const all = planGateways(base({ specReplicas: 2, currentReplicas: 5, drained: new Set([2, 3, 4]) }));
    expect(all.statefulSetReplicas).toBe(2);
  });

  it('scaling back up during a drain cancels it for the ordinals kept', () => {
    const deadline = new Date(T0 + 60_000).toISOString();
    const p = planGateways(base({ specReplicas: 4, currentReplicas: 5, publishedDeadlines: new Map([[2, deadline], [3, deadline], [4, deadline]]) }));
    expect(p.draining).toEqual([4]);
    expect(p.members[4]!.drainDeadline).toBe(deadline);
    expect(p.members[3]).toEqual({ ordinal: 3, draining: false });
  });

  it('drainSeconds 0 removes at once', () => {
    expect(planGateways(base({ specReplicas: 1, currentReplicas: 3, drainSeconds: 0 })).statefulSetReplicas).toBe(1);
  });
});
