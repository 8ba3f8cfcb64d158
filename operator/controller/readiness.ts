import type { KubeObject } from '../kube/object.js';
import type { MemberState } from './drain.js';

/**
 * Readiness gate of the assignments (pure). Every member stays in the assignments document
 * (a gateway finds its own entry there: its draining flag, or the end of a cancelled drain),
 * but one whose pod is not Ready is marked `ready: false`, which discovery does not assign:
 * a scale-up (or a new cluster) never sends terminals to a pod that is still starting.
 *
 * A gateway already assignable stays assignable while its pod is not Ready for at most
 * `graceSeconds` (counted from the Ready condition's last transition, or from the pod's
 * creation or deletion), so a restart or a blip of a probe moves nobody; past the grace its
 * terminals go to the others by rendezvous hashing (about 1/N of the fleet), and they come
 * back once it is Ready again. A published gateway with no pod at all is kept: a StatefulSet
 * pod is missing only between its deletion and its replacement, whose creation starts the
 * grace. Draining gateways are always kept, so they see their flag and evacuate.
 */
export interface PodReadiness {
  ready: boolean;
  /** When the pod stopped being Ready (ms since epoch); undefined when unknown. */
  since?: number;
}

export interface ReadinessInput {
  members: readonly MemberState[];
  /** Gateway pods by ordinal; an ordinal without a pod is absent. */
  pods: ReadonlyMap<number, PodReadiness>;
  /** Ordinals the current assignments ConfigMap lists as assignable or draining (not `ready: false`). */
  published: ReadonlySet<number>;
  now: number;
  graceSeconds: number;
}

export interface ReadinessPlan {
  /** Every member, the held-back ones marked notReady. */
  members: MemberState[];
  /** Ordinals held back (marked notReady) because their pod is not Ready. */
  unassigned: number[];
  /** Ordinals published before and held back from now on (for an event). */
  withdrawn: number[];
  /** When the earliest running grace ends. */
  requeueAfterMs?: number;
}

export function gateOnReadiness(input: ReadinessInput): ReadinessPlan {
  const { now } = input;
  const graceMs = input.graceSeconds * 1000;
  const members: MemberState[] = [];
  const unassigned: number[] = [];
  const waits: number[] = [];
  for (const m of input.members) {
    const pod = input.pods.get(m.ordinal);
    const wasPublished = input.published.has(m.ordinal);
    if (m.draining || pod?.ready || (wasPublished && !pod)) {
      members.push(m);
      continue;
    }
    const left = wasPublished ? (pod!.since ?? now) + graceMs - now : 0;
    if (left > 0) {
      members.push(m);
      waits.push(left);
    } else {
      members.push({ ...m, notReady: true });
      unassigned.push(m.ordinal);
    }
  }
  return {
    members,
    unassigned,
    withdrawn: unassigned.filter((o) => input.published.has(o)),
    requeueAfterMs: waits.length > 0 ? Math.min(...waits) : undefined,
  };
}

type PodCondition = { type: string; status: string; lastTransitionTime?: string };

/** Ready or not, and since when not (the Ready condition's transition, the deletion, or the creation). */
export function podReadiness(pod: KubeObject): PodReadiness {
  const time = (iso: string | undefined) => {
    const t = iso ? Date.parse(iso) : NaN;
    return Number.isFinite(t) ? t : undefined;
  };
  if (pod.metadata.deletionTimestamp) return { ready: false, since: time(pod.metadata.deletionTimestamp) };
  const cond = ((pod.status as { conditions?: PodCondition[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready');
  if (cond?.status === 'True') return { ready: true };
  return { ready: false, since: time(cond?.lastTransitionTime) ?? time(pod.metadata.creationTimestamp) };
}
