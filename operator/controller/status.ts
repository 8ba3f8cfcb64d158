import { ANNOTATION_PAUSED } from '../api/group.js';
import type { PCMCluster, PCMClusterStatus } from '../api/schema.js';
import type { KubeObject } from '../kube/object.js';
import { setConditions, type ConditionUpdate } from './conditions.js';
import type { DrainPlan } from './drain.js';
import { canonicalJson, gatewayId, selectorLabels, selectorString } from './steps/common.js';

/**
 * The PCMCluster status, computed purely from what one pass saw (DESIGN.md section 5:
 * observedGeneration, replicas/readyReplicas, the published assignment generation, conditions
 * Ready / Progressing / Degraded). Written once per pass, and not at all when equal to the
 * stored status, so a pass with nothing changed writes nothing.
 */
export interface StatusInput {
  cluster: PCMCluster;
  plan: DrainPlan;
  statefulSet: KubeObject | undefined;
  discovery: KubeObject | undefined;
  assignmentsGeneration: number;
  /** Gateway ids kept out of the assignments because their pod is not Ready. */
  unassigned?: string[];
  errors: string[];
  nowIso: string;
}

interface WorkloadStatus {
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
}

const workload = (o: KubeObject | undefined) => (o?.status ?? {}) as WorkloadStatus;

export function computeStatus(input: StatusInput): PCMClusterStatus {
  const { cluster, plan, errors, nowIso } = input;
  const want = cluster.spec.gateways.replicas;
  const sts = workload(input.statefulSet);
  const replicas = sts.replicas ?? 0;
  const ready = sts.readyReplicas ?? 0;
  const draining = plan.draining.map((o) => gatewayId(cluster.metadata.name, o));
  const stsCurrent =
    input.statefulSet !== undefined &&
    (sts.observedGeneration ?? 0) >= (input.statefulSet.metadata.generation ?? 0) &&
    (sts.updatedReplicas ?? 0) >= plan.statefulSetReplicas &&
    replicas === plan.statefulSetReplicas;
  const wantDiscovery = cluster.spec.discovery.replicas;
  const discoveryReady = wantDiscovery === 0 || (workload(input.discovery).readyReplicas ?? 0) >= wantDiscovery;

  const degraded: ConditionUpdate =
    errors.length > 0
      ? { type: 'Degraded', status: 'True', reason: 'ReconcileFailed', message: truncate(errors.join('; ')) }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'All owned resources match the spec.' };
  let progressing: ConditionUpdate;
  if (draining.length > 0) {
    progressing = { type: 'Progressing', status: 'True', reason: 'Draining', message: `Draining ${draining.join(', ')} before scaling down to ${want}.` };
  } else if (!stsCurrent || ready < want) {
    progressing = { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${ready}/${want} gateways ready.` };
  } else if (!discoveryReady) {
    progressing = { type: 'Progressing', status: 'True', reason: 'RollingOut', message: 'Waiting for discovery replicas to be ready.' };
  } else {
    progressing = { type: 'Progressing', status: 'False', reason: 'Reconciled', message: 'The cluster matches the spec.' };
  }
  const readyCond: ConditionUpdate =
    errors.length > 0
      ? { type: 'Ready', status: 'False', reason: 'ReconcileFailed', message: 'See the Degraded condition.' }
      : ready >= want && discoveryReady
        ? { type: 'Ready', status: 'True', reason: 'AllReady', message: `${ready}/${want} gateways and discovery ready.` }
        : { type: 'Ready', status: 'False', reason: 'NotReady', message: `${ready}/${want} gateways ready${discoveryReady ? '' : ', discovery not ready'}.` };

  const status: PCMClusterStatus = {
    observedGeneration: cluster.metadata.generation ?? 0,
    replicas,
    readyReplicas: ready,
    selector: selectorString(selectorLabels(cluster, 'gateway')),
    assignmentsGeneration: input.assignmentsGeneration,
    conditions: setConditions(cluster.status?.conditions, [readyCond, progressing, degraded], nowIso, cluster.metadata.generation),
  };
  if (draining.length > 0) status.drainingGateways = draining;
  if (input.unassigned && input.unassigned.length > 0) status.unassignedGateways = input.unassigned;
  return status;
}

/** While paused the children are left alone; only the Progressing condition changes (issue 6). */
export function pausedStatus(cluster: PCMCluster, nowIso: string): PCMClusterStatus {
  return {
    ...(cluster.status ?? {}),
    conditions: setConditions(
      cluster.status?.conditions,
      [{ type: 'Progressing', status: 'False', reason: 'Paused', message: `Reconciliation paused by the ${ANNOTATION_PAUSED} annotation.` }],
      nowIso,
      cluster.metadata.generation,
    ),
  };
}

export const sameStatus = (a: PCMClusterStatus | undefined, b: PCMClusterStatus | undefined) => canonicalJson(a ?? {}) === canonicalJson(b ?? {});

/** A merge patch that makes the stored status equal `next` (keys it lacks are removed with null). */
export function statusPatch(prev: PCMClusterStatus | undefined, next: PCMClusterStatus): { status: Record<string, unknown> } {
  const patch: Record<string, unknown> = { ...next };
  for (const k of Object.keys(prev ?? {})) if (!(k in next)) patch[k] = null;
  return { status: patch };
}

const truncate = (s: string) => (s.length > 2000 ? `${s.slice(0, 1997)}...` : s);
