import { describe, expect, it } from 'vitest';
import { sampleCluster } from './testing.js';
import { computeStatus, pausedStatus, sameStatus, statusPatch } from './status.js';
import { planGateways } from './drain.js';
import { ownerKey } from './manager.js';
import type { KubeObject } from '../kube/object.js';

const sts = (replicas: number, ready: number, generation = 1): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'demo-gateway', generation },
  status: { replicas, readyReplicas: ready, updatedReplicas: replicas, observedGeneration: generation },
});
const dep = (ready: number): KubeObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'demo-discovery' }, status: { readyReplicas: ready } });

describe('computeStatus', () => {
  const cluster = sampleCluster();
  const plan = planGateways({ specReplicas: 3, currentReplicas: 3, publishedDeadlines: new Map(), drained: new Set(), now: 0, drainSeconds: 60 });
  const base = { cluster, plan, assignmentsGeneration: 4, errors: [] as string[], nowIso: '2026-11-27T00:00:00.000Z' };
  const cond = (s: ReturnType<typeof computeStatus>, t: string) => s.conditions!.find((c) => c.type === t)!;

  it('Ready when every gateway and discovery replica is ready', () => {
    const s = computeStatus({ ...base, statefulSet: sts(3, 3), discovery: dep(2) });
    expect(s).toMatchObject({ observedGeneration: 1, replicas: 3, readyReplicas: 3, assignmentsGeneration: 4 });
    expect([cond(s, 'Ready').status, cond(s, 'Progressing').reason, cond(s, 'Degraded').status]).toEqual(['True', 'Reconciled', 'False']);
  });

  it('rolling out, draining, and failing are told apart', () => {
    expect(cond(computeStatus({ ...base, statefulSet: sts(3, 1), discovery: dep(2) }), 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingOut', message: '1/3 gateways ready.' });
    const draining = planGateways({ specReplicas: 1, currentReplicas: 3, publishedDeadlines: new Map(), drained: new Set(), now: 0, drainSeconds: 60 });
    const d = computeStatus({ ...base, plan: draining, statefulSet: sts(3, 3), discovery: dep(2) });
    expect(d.drainingGateways).toEqual(['demo-gateway-1', 'demo-gateway-2']);
    expect(cond(d, 'Progressing').reason).toBe('Draining');
    const f = computeStatus({ ...base, errors: ['StatefulSet/pcm/demo-gateway: 422'], statefulSet: sts(3, 3), discovery: dep(2) });
    expect([cond(f, 'Ready').status, cond(f, 'Degraded').message]).toEqual(['False', 'StatefulSet/pcm/demo-gateway: 422']);
  });

  it('is stable: recomputing from its own output is the same status (so nothing is written)', () => {
    const s1 = computeStatus({ ...base, statefulSet: sts(3, 3), discovery: dep(2) });
    const s2 = computeStatus({ ...base, cluster: { ...cluster, status: s1 }, nowIso: '2026-11-27T01:00:00.000Z', statefulSet: sts(3, 3), discovery: dep(2) });
    expect(sameStatus(s1, s2)).toBe(true);
  });

  it('paused keeps everything but the Progressing condition; status patches null what disappeared', () => {
    const s1 = computeStatus({ ...base, statefulSet: sts(3, 3), discovery: dep(2) });
    const p = pausedStatus({ ...cluster, status: s1 }, 't');
    expect(p.readyReplicas).toBe(3);
    expect(p.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'Paused' });
    expect(statusPatch({ drainingGateways: ['x'], replicas: 1 }, { replicas: 2 })).toEqual({ status: { replicas: 2, drainingGateways: null } });
  });
});

describe('event -> cluster key', () => {
  it('maps owned objects through their controller owner reference', () => {
    const o = (refs: KubeObject['metadata']['ownerReferences']): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'ns', ownerReferences: refs } });
    expect(ownerKey(o([{ apiVersion: 'pcm.dev/v1alpha1', kind: 'PCMCluster', name: 'demo', uid: 'u', controller: true }]))).toBe('ns/demo');
    expect(ownerKey(o([{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u', controller: true }]))).toBeUndefined();
    expect(ownerKey(o(undefined))).toBeUndefined();
  });
});
