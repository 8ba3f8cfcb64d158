import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import { ANNOTATION_DRAINED, ANNOTATION_PAUSED, API_VERSION, KIND } from '../api/group.js';
import { withDefaults } from '../api/defaults.js';
import type { PCMCluster, PCMClusterStatus } from '../api/schema.js';
import type { KubeClient } from '../kube/client.js';
import { refString, type KubeObject, type ObjectRef } from '../kube/object.js';
import { applyDesired, type ApplyResult } from './apply.js';
import { planGateways, type DrainPlan } from './drain.js';
import { gateOnReadiness, podReadiness, type PodReadiness } from './readiness.js';
import type { EventRecorder } from './events.js';
import { computeStatus, pausedStatus, sameStatus, statusPatch } from './status.js';
import { setConditions } from './conditions.js';
import { desiredAssignmentsConfigMap, readPublished } from './steps/assignments-configmap.js';
import { gatewayId, names, selectorLabels, selectorString } from './steps/common.js';
import { desiredDiscoveryDeployment } from './steps/discovery-deployment.js';
import { desiredDiscoveryRole } from './steps/discovery-role.js';
import { desiredDiscoveryRoleBinding } from './steps/discovery-rolebinding.js';
import { desiredDiscoveryService } from './steps/discovery-service.js';
import { desiredDiscoveryServiceAccount } from './steps/discovery-serviceaccount.js';
import { desiredGatewayApiService } from './steps/gateway-api-service.js';
import { desiredGatewayHeadlessService } from './steps/gateway-headless-service.js';
import { desiredGatewayMqttService } from './steps/gateway-mqtt-service.js';
import { desiredGatewayPdb } from './steps/gateway-pdb.js';
import { desiredGatewayStatefulSet } from './steps/gateway-statefulset.js';

/**
 * One reconcile pass for one PCMCluster (DESIGN.md section 7: level-based, idempotent).
 * It reads the cluster and what exists, computes every desired object with the pure
 * builders in steps/, applies each with the generic apply, and writes the status once.
 *
 * Order matters for graceful scale-down: the assignments ConfigMap (draining flags) is
 * applied before the StatefulSet, and if it fails the StatefulSet is not touched, so a
 * gateway is never removed before it was published as draining.
 */
export interface ReconcileDeps {
  kube: KubeClient;
  clock: Clock;
  log: Logger;
  events?: EventRecorder;
}

export interface ClusterKey {
  namespace: string;
  name: string;
}

export interface ReconcileOutcome {
  results: ApplyResult[];
  errors: string[];
  status?: PCMClusterStatus;
  statusWritten: boolean;
  paused: boolean;
  /** Look again after this long (a drain deadline), even without events. */
  requeueAfterMs?: number;
}

export const clusterRef = (key: ClusterKey): ObjectRef => ({ apiVersion: API_VERSION, kind: KIND, ...key });

export async function reconcileCluster(deps: ReconcileDeps, key: ClusterKey): Promise<ReconcileOutcome | undefined> {
  const { kube, clock } = deps;
  const raw = await kube.get<KubeObject>(clusterRef(key));
  // Deleted: owner references make the garbage collector remove the children.
  if (!raw || raw.metadata.deletionTimestamp) return undefined;
  const log = deps.log.child({ cluster: `${key.namespace}/${key.name}`, generation: raw.metadata.generation });
  const nowIso = new Date(clock.now()).toISOString();
  const stored = raw.status as PCMClusterStatus | undefined;

  let cluster: PCMCluster;
  try {
    cluster = { ...(raw as unknown as PCMCluster), spec: withDefaults(raw.spec) };
  } catch (err) {
    // The API server validates; this only happens for objects stored under an older schema.
    // Children are left as they are; only the conditions say why.
    const message = (err as Error).message;
    const status: PCMClusterStatus = {
      ...(stored ?? {}),
      conditions: setConditions(
        stored?.conditions,
        [
          { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'See the Degraded condition.' },
          { type: 'Degraded', status: 'True', reason: 'InvalidSpec', message },
        ],
        nowIso,
        raw.metadata.generation,
      ),
    };
    return { results: [], errors: [message], status, statusWritten: await writeStatus(deps, key, stored, status), paused: false };
  }

  if (raw.metadata.annotations?.[ANNOTATION_PAUSED] === 'true') {
    const status = pausedStatus(cluster, nowIso);
    log.debug('paused');
    return { results: [], errors: [], status, statusWritten: await writeStatus(deps, key, stored, status), paused: true };
  }

  const uid = raw.metadata.uid!;
  const ns = key.namespace;
  const n = names(key.name);
  const results: ApplyResult[] = [];
  const errors: string[] = [];

  const stsRef: ObjectRef = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: n.gatewayStatefulSet, namespace: ns };
  const cmRef: ObjectRef = { apiVersion: 'v1', kind: 'ConfigMap', name: n.assignments, namespace: ns };
  const [sts, cm] = await Promise.all([kube.get(stsRef), kube.get(cmRef)]);
  const currentReplicas = (sts?.spec as { replicas?: number } | undefined)?.replicas;
  const published = readPublished(cm, stored?.assignmentsGeneration);
  const pods = await gatewayPods(kube, cluster);
  const plan: DrainPlan = planGateways({
    specReplicas: cluster.spec.gateways.replicas,
    currentReplicas,
    publishedDeadlines: published.deadlines,
    drained: pods.drained,
    now: clock.now(),
    drainSeconds: cluster.spec.gateways.drainSeconds,
  });
  // Only gateways whose pod is (or, within the grace, was) Ready get terminals.
  const gate = gateOnReadiness({
    members: plan.members,
    pods: pods.readiness,
    published: published.ordinals,
    now: clock.now(),
    graceSeconds: cluster.spec.gateways.unreadyGraceSeconds,
  });
  const assignments = desiredAssignmentsConfigMap(cluster, gate.members, published.previous);

  const step = async (ref: ObjectRef, desired: KubeObject | undefined): Promise<ApplyResult | undefined> => {
    try {
      const r = await applyDesired(kube, ref, desired, uid);
      results.push(r);
      if (r.action === 'created' || r.action === 'deleted') {
        log.info({ object: refString(ref) }, r.action);
        await deps.events?.record(cluster, 'Normal', r.action === 'created' ? 'Created' : 'Deleted', `${r.action === 'created' ? 'Created' : 'Deleted'} ${refString(ref)}`);
      } else if (r.action === 'patched') log.info({ object: refString(ref) }, 'patched');
      return r;
    } catch (err) {
      const message = `${refString(ref)}: ${(err as Error).message}`;
      errors.push(message);
      log.error({ err, object: refString(ref) }, 'apply failed');
      await deps.events?.record(cluster, 'Warning', 'ApplyFailed', message);
      return undefined;
    }
  };
  const svc = (name: string): ObjectRef => ({ apiVersion: 'v1', kind: 'Service', name, namespace: ns });

  const cmResult = await step(cmRef, assignments.object);
  if (cmResult) {
    for (const o of gate.withdrawn) {
      const id = gatewayId(key.name, o);
      log.warn({ gateway: id }, 'gateway pod not Ready for longer than unreadyGraceSeconds: marked ready=false in the assignments');
      await deps.events?.record(cluster, 'Warning', 'GatewayUnready', `${id} not Ready for ${cluster.spec.gateways.unreadyGraceSeconds} s: discovery assigns its terminals to the other gateways until it is Ready again`);
    }
  }
  await step(svc(n.gatewayHeadless), desiredGatewayHeadlessService(cluster));
  await step(svc(n.gatewayApi), desiredGatewayApiService(cluster));
  await step(svc(n.gatewayMqtt), desiredGatewayMqttService(cluster));
  let stsNow = sts;
  if (cmResult) {
    const r = await step(stsRef, desiredGatewayStatefulSet(cluster, plan.statefulSetReplicas));
    if (r?.object) stsNow = r.object;
  } else {
    errors.push(`${refString(stsRef)}: not updated because the assignments could not be published`);
  }
  await step({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', name: n.gatewayPdb, namespace: ns }, desiredGatewayPdb(cluster));
  await step({ apiVersion: 'v1', kind: 'ServiceAccount', name: n.discoveryServiceAccount, namespace: ns }, desiredDiscoveryServiceAccount(cluster));
  await step({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', name: n.discoveryRole, namespace: ns }, desiredDiscoveryRole(cluster));
  await step({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', name: n.discoveryRole, namespace: ns }, desiredDiscoveryRoleBinding(cluster));
  const dep = await step({ apiVersion: 'apps/v1', kind: 'Deployment', name: n.discoveryDeployment, namespace: ns }, desiredDiscoveryDeployment(cluster));
  await step(svc(n.discoveryService), desiredDiscoveryService(cluster));

  const status = computeStatus({
    cluster,
    plan,
    statefulSet: stsNow,
    discovery: dep?.object,
    assignmentsGeneration: cmResult ? assignments.document.generation : (stored?.assignmentsGeneration ?? 0),
    unassigned: gate.unassigned.map((o) => gatewayId(key.name, o)),
    errors,
    nowIso,
  });
  const statusWritten = await writeStatus(deps, key, stored, status);
  const waits = [plan.requeueAfterMs, gate.requeueAfterMs].filter((w): w is number => w !== undefined);
  return { results, errors, status, statusWritten, paused: false, requeueAfterMs: waits.length > 0 ? Math.min(...waits) : undefined };
}

/** Status once per pass, and only when it differs from what is stored. */
async function writeStatus(deps: ReconcileDeps, key: ClusterKey, stored: PCMClusterStatus | undefined, next: PCMClusterStatus): Promise<boolean> {
  if (sameStatus(stored, next)) return false;
  await deps.kube.mergePatch(clusterRef(key), statusPatch(stored, next), 'status');
  return true;
}

/**
 * The gateway pods, by ordinal: their readiness (the assignments gate) and which announced they
 * are empty (pod annotation pcm.dev/drained=true: they may go before their drain deadline).
 */
async function gatewayPods(kube: KubeClient, cluster: PCMCluster): Promise<{ readiness: Map<number, PodReadiness>; drained: Set<number> }> {
  const pods = await kube.list('v1', 'Pod', cluster.metadata.namespace, { labelSelector: selectorString(selectorLabels(cluster, 'gateway')) });
  const readiness = new Map<number, PodReadiness>();
  const drained = new Set<number>();
  const prefix = `${names(cluster.metadata.name).gatewayStatefulSet}-`;
  for (const p of pods.items) {
    if (!p.metadata.name.startsWith(prefix)) continue;
    const ordinal = Number(p.metadata.name.slice(prefix.length));
    if (!Number.isInteger(ordinal) || ordinal < 0) continue;
    readiness.set(ordinal, podReadiness(p));
    if (p.metadata.annotations?.[ANNOTATION_DRAINED] === 'true') drained.add(ordinal);
  }
  return { readiness, drained };
}
