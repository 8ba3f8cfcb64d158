import type { KubeObject } from '../kube/object.js';
import type { MemberState } from './drain.js';

/**
 * Readiness gate of the assignments (pure). Discovery hands terminals only to gateways in the
 * assignments ConfigMap, so a gateway is published only once its pod has been Ready: a
 * scale-up (or a new cluster) never sends terminals to a pod that is still starting.
 *
 * A gateway already published stays published while its pod is not Ready for at most
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
  /** Ordinals the current assignments ConfigMap lists. */
  published: ReadonlySet<number>;
  now: number;
  graceSeconds: number;
}

export interface ReadinessPlan {
  /** The members to publish. */
  members: MemberState[];
  /** Ordinals held back because their pod is not Ready. */
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
    } else unassigned.push(m.ordinal);
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
