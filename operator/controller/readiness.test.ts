import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/object.js';
import { gateOnReadiness, podReadiness, type PodReadiness, type ReadinessInput } from './readiness.js';

const T0 = Date.parse('2026-11-27T00:00:00Z');
const members = (n: number, draining: number[] = []) => Array.from({ length: n }, (_, ordinal) => ({ ordinal, draining: draining.includes(ordinal) }));
const ready: PodReadiness = { ready: true };
const notReadySince = (msAgo: number): PodReadiness => ({ ready: false, since: T0 - msAgo });
const base = (over: Partial<ReadinessInput>): ReadinessInput => ({
  members: members(3),
  pods: new Map([0, 1, 2].map((o) => [o, ready])),
  published: new Set([0, 1, 2]),
  now: T0,
  graceSeconds: 30,
  ...over,
});
/** The ordinals discovery may assign (the others are listed with notReady). */
const ordinals = (p: { members: { ordinal: number; notReady?: boolean }[] }) => p.members.filter((m) => !m.notReady).map((m) => m.ordinal);

describe('gateOnReadiness (assignments follow pod readiness)', () => {
  it('every pod Ready: everyone is published, nothing to wait for', () => {
    expect(gateOnReadiness(base({}))).toEqual({ members: members(3), unassigned: [], withdrawn: [], requeueAfterMs: undefined });
  });

  it('a new cluster or a scale-up publishes a gateway only once its pod is Ready', () => {
    const p = gateOnReadiness(base({ members: members(5), published: new Set([0, 1, 2]), pods: new Map([[0, ready], [1, ready], [2, ready], [3, notReadySince(0)]]) }));
    expect(ordinals(p)).toEqual([0, 1, 2]);
    expect(p.unassigned).toEqual([3, 4]); // 3 is starting, 4 has no pod yet
    expect(p.withdrawn).toEqual([]);
    // still listed, so each gateway finds its own entry; marked so discovery skips them
    expect(p.members.slice(3)).toEqual([{ ordinal: 3, draining: false, notReady: true }, { ordinal: 4, draining: false, notReady: true }]);
    const fresh = gateOnReadiness(base({ published: new Set(), pods: new Map() }));
    expect(ordinals(fresh)).toEqual([]);
    expect(fresh.unassigned).toEqual([0, 1, 2]);
  });

  it('a published gateway stays through a short unreadiness, and leaves when the grace is over', () => {
    const within = gateOnReadiness(base({ pods: new Map([[0, ready], [1, notReadySince(10_000)], [2, ready]]) }));
    expect(ordinals(within)).toEqual([0, 1, 2]);
    expect(within.requeueAfterMs).toBe(20_000);
    const past = gateOnReadiness(base({ pods: new Map([[0, ready], [1, notReadySince(30_000)], [2, ready]]) }));
    expect(ordinals(past)).toEqual([0, 2]);
    expect(past.unassigned).toEqual([1]);
    expect(past.withdrawn).toEqual([1]);
    expect(past.requeueAfterMs).toBeUndefined();
    // already out: unassigned, but not withdrawn again (one event per withdrawal)
    const later = gateOnReadiness(base({ published: new Set([0, 2]), pods: new Map([[0, ready], [1, notReadySince(90_000)], [2, ready]]) }));
    expect(later.unassigned).toEqual([1]);
    expect(later.withdrawn).toEqual([]);
    // Ready again: back in
    expect(ordinals(gateOnReadiness(base({ published: new Set([0, 2]) })))).toEqual([0, 1, 2]);
  });

  it('grace 0 withdraws at once; an unknown transition time counts from now', () => {
    expect(ordinals(gateOnReadiness(base({ graceSeconds: 0, pods: new Map([[0, ready], [1, notReadySince(0)], [2, ready]]) })))).toEqual([0, 2]);
    const unknown = gateOnReadiness(base({ pods: new Map([[0, ready], [1, { ready: false }], [2, ready]]) }));
    expect(ordinals(unknown)).toEqual([0, 1, 2]);
    expect(unknown.requeueAfterMs).toBe(30_000);
  });

  it('a published gateway whose pod is missing (between deletion and replacement) is kept', () => {
    expect(ordinals(gateOnReadiness(base({ pods: new Map([[0, ready], [2, ready]]) })))).toEqual([0, 1, 2]);
  });

  it('draining gateways are kept whatever their pod does, so they see their flag', () => {
    const p = gateOnReadiness(base({ members: members(3, [2]), pods: new Map([[0, ready], [1, ready], [2, notReadySince(600_000)]]) }));
    expect(p.members).toEqual(members(3, [2]));
    expect(p.unassigned).toEqual([]);
  });
});

describe('podReadiness', () => {
  const pod = (over: { status?: unknown; deletionTimestamp?: string }): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'demo-gateway-0', creationTimestamp: '2026-11-27T00:00:00Z', ...(over.deletionTimestamp ? { deletionTimestamp: over.deletionTimestamp } : {}) },
    status: over.status,
  });
  it('reads the Ready condition and when it last changed', () => {
    expect(podReadiness(pod({ status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-11-27T00:01:00Z' }] } }))).toEqual({ ready: true });
    expect(podReadiness(pod({ status: { conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-11-27T00:02:00Z' }] } }))).toEqual({ ready: false, since: Date.parse('2026-11-27T00:02:00Z') });
  });
  it('a pod without conditions counts from its creation; a terminating pod from its deletion', () => {
    expect(podReadiness(pod({}))).toEqual({ ready: false, since: T0 });
    const ready = { conditions: [{ type: 'Ready', status: 'True' }] };
    expect(podReadiness(pod({ status: ready, deletionTimestamp: '2026-11-27T00:05:00Z' }))).toEqual({ ready: false, since: Date.parse('2026-11-27T00:05:00Z') });
  });
});
