import { ANNOTATION_ASSIGNMENTS_GENERATION, ANNOTATION_ASSIGNMENTS_HASH } from '../../api/group.js';
import type { PCMCluster } from '../../api/schema.js';
import type { KubeObject } from '../../kube/object.js';
import type { MemberState } from '../drain.js';
import { ASSIGNMENTS_KEY, gatewayId, meta, names, stableHash } from './common.js';

/**
 * The assignments ConfigMap: the gateway set discovery serves (DESIGN.md section 5,
 * "Discovery") and the draining flags gateways obey. Its data key `gateways.json` holds the
 * document discovery/sources/snapshot.ts parses:
 *
 *   {"generation": 4, "gateways": [{"id": "demo-gateway-0", "ordinal": 0,
 *     "websocketUrl": "wss://gw-0.example.com/v1/connect", "mqttUrl": "mqtts://gw-0.example.com:8883",
 *     "weight": 1, "draining": false}, {"id": "demo-gateway-3", …, "draining": true,
 *     "drainDeadline": "2026-11-27T00:12:00.000Z"}, {"id": "demo-gateway-1", …, "draining": false,
 *     "ready": false}]}
 *
 * `ready: false` (only ever present as false) marks a gateway whose pod is not Ready
 * (readiness.ts): discovery does not assign it; the gateway itself does not evacuate.
 * The generation changes only when the gateway list changes: the list's hash and the counter
 * are kept in annotations, and the counter moves on only when the hash differs.
 */
export interface AssignmentEntry {
  id: string;
  ordinal: number;
  websocketUrl: string;
  mqttUrl: string;
  weight: number;
  draining: boolean;
  drainDeadline?: string;
  /** Present (false) only while the pod is not Ready: discovery does not assign the gateway. */
  ready?: false;
}

export interface AssignmentsDocument {
  generation: number;
  gateways: AssignmentEntry[];
}

/** The previous publication, from the existing ConfigMap's annotations and the CR status. */
export interface PublishedAssignments {
  generation: number;
  hash: string | undefined;
}

export function hostFor(template: string, ordinal: number): string {
  return template.replaceAll('{ordinal}', String(ordinal));
}

export function publicUrls(cluster: PCMCluster, ordinal: number): { websocketUrl: string; mqttUrl: string } {
  const p = cluster.spec.gateways.public;
  const host = hostFor(p.hostTemplate, ordinal);
  const ws = p.tls ? 'wss' : 'ws';
  const wsDefault = p.tls ? 443 : 80;
  return {
    websocketUrl: `${ws}://${host}${p.websocketPort === wsDefault ? '' : `:${p.websocketPort}`}/v1/connect`,
    mqttUrl: `${p.tls ? 'mqtts' : 'mqtt'}://${host}:${p.mqttPort}`,
  };
}

export function assignmentEntries(cluster: PCMCluster, members: readonly MemberState[]): AssignmentEntry[] {
  return members.map((m) => ({
    id: gatewayId(cluster.metadata.name, m.ordinal),
    ordinal: m.ordinal,
    ...publicUrls(cluster, m.ordinal),
    weight: 1,
    draining: m.draining,
    ...(m.drainDeadline ? { drainDeadline: m.drainDeadline } : {}),
    ...(m.notReady ? { ready: false as const } : {}),
  }));
}

export function nextGeneration(entries: readonly AssignmentEntry[], previous: PublishedAssignments | undefined): { generation: number; hash: string } {
  const hash = stableHash(entries);
  if (previous && previous.hash === hash && previous.generation > 0) return { generation: previous.generation, hash };
  return { generation: (previous?.generation ?? 0) + 1, hash };
}

export function desiredAssignmentsConfigMap(
  cluster: PCMCluster,
  members: readonly MemberState[],
  previous: PublishedAssignments | undefined,
): { object: KubeObject; document: AssignmentsDocument } {
  const gateways = assignmentEntries(cluster, members);
  const { generation, hash } = nextGeneration(gateways, previous);
  const document: AssignmentsDocument = { generation, gateways };
  const object: KubeObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      ...meta(cluster, names(cluster.metadata.name).assignments, 'assignments'),
      annotations: { [ANNOTATION_ASSIGNMENTS_GENERATION]: String(generation), [ANNOTATION_ASSIGNMENTS_HASH]: hash },
    },
    data: { [ASSIGNMENTS_KEY]: JSON.stringify(document, null, 2) + '\n' },
  };
  return { object, document };
}

/** Reads back what a previous pass published (tolerates a hand-edited or foreign ConfigMap). */
export function readPublished(existing: KubeObject | undefined, statusGeneration: number | undefined): {
  previous: PublishedAssignments | undefined;
  deadlines: Map<number, string>;
  /** Ordinals the document lists as assignable or draining (not held back with `ready: false`). */
  ordinals: Set<number>;
} {
  const deadlines = new Map<number, string>();
  const ordinals = new Set<number>();
  const annotations = existing?.metadata.annotations ?? {};
  const fromAnnotation = Number(annotations[ANNOTATION_ASSIGNMENTS_GENERATION]);
  const generation = Math.max(Number.isInteger(fromAnnotation) ? fromAnnotation : 0, statusGeneration ?? 0);
  const text = (existing?.data as Record<string, string> | undefined)?.[ASSIGNMENTS_KEY];
  if (text) {
    try {
      const doc = JSON.parse(text) as Partial<AssignmentsDocument>;
      for (const g of doc.gateways ?? []) {
        if (!Number.isInteger(g.ordinal)) continue;
        if (g.ready !== false) ordinals.add(g.ordinal);
        if (g.draining && typeof g.drainDeadline === 'string') deadlines.set(g.ordinal, g.drainDeadline);
      }
    } catch {
      // A corrupted document is simply rewritten; deadlines restart from now.
    }
  }
  if (!existing && generation === 0) return { previous: undefined, deadlines, ordinals };
  return { previous: { generation, hash: annotations[ANNOTATION_ASSIGNMENTS_HASH] }, deadlines, ordinals };
}
