/**
 * Graceful scale-down plan, pure (issue 6, "Graceful scale-down"; DESIGN.md section 5,
 * "Draining gateways receive no new assignments").
 *
 * When spec replicas drop below what the StatefulSet runs, the leaving gateways (the highest
 * ordinals: a StatefulSet only ever removes from the top) are first published as `draining`
 * in the assignments ConfigMap with a deadline of now + drainSeconds. Discovery stops assigning
 * to them; each gateway reads its own flag and evacuates its terminals. The StatefulSet keeps
 * its size until a leaving gateway's deadline passes or its pod reports itself empty
 * (annotation pcm.dev/drained=true); only then does it shrink, and the entry leaves the
 * ConfigMap in the same pass. The deadline lives in the ConfigMap, so an operator restart
 * resumes the same drain instead of starting a new one.
 */
export interface MemberState {
  ordinal: number;
  draining: boolean;
  /** ISO time after which a draining gateway is removed even if not empty. */
  drainDeadline?: string;
  /** Held back by the readiness gate: published with `ready: false` (readiness.ts). */
  notReady?: boolean;
}

export interface DrainInput {
  specReplicas: number;
  /** spec.replicas of the existing StatefulSet; undefined when there is none yet. */
  currentReplicas: number | undefined;
  /** Draining deadlines already published, by ordinal. */
  publishedDeadlines: ReadonlyMap<number, string>;
  /** Ordinals whose pods reported they hold no sessions. */
  drained: ReadonlySet<number>;
  now: number;
  drainSeconds: number;
}

export interface DrainPlan {
  statefulSetReplicas: number;
  members: MemberState[];
  /** Ordinals marked draining in this plan. */
  draining: number[];
  /** When to look again so the StatefulSet shrinks right at the earliest pending deadline. */
  requeueAfterMs?: number;
}

export function planGateways(input: DrainInput): DrainPlan {
  const { specReplicas, now } = input;
  const current = input.currentReplicas ?? 0;
  if (specReplicas >= current) {
    // Steady state or scale-up: a scale-up during a drain cancels it for the ordinals kept.
    return { statefulSetReplicas: specReplicas, members: range(specReplicas).map((ordinal) => ({ ordinal, draining: false })), draining: [] };
  }
  const deadlines = new Map<number, number>();
  for (let o = specReplicas; o < current; o++) {
    const published = input.publishedDeadlines.get(o);
    const t = published !== undefined ? Date.parse(published) : NaN;
    deadlines.set(o, Number.isFinite(t) ? t : now + input.drainSeconds * 1000);
  }
  const done = (o: number) => input.drained.has(o) || now >= deadlines.get(o)!;
  // Shrink from the top down to the highest leaving gateway still evacuating.
  let keep = current;
  while (keep > specReplicas && done(keep - 1)) keep--;
  const members: MemberState[] = range(keep).map((ordinal) =>
    ordinal < specReplicas ? { ordinal, draining: false } : { ordinal, draining: true, drainDeadline: new Date(deadlines.get(ordinal)!).toISOString() },
  );
  const pending = members.filter((m) => m.draining && !done(m.ordinal)).map((m) => deadlines.get(m.ordinal)! - now);
  return {
    statefulSetReplicas: keep,
    members,
    draining: members.filter((m) => m.draining).map((m) => m.ordinal),
    requeueAfterMs: pending.length > 0 ? Math.max(0, Math.min(...pending)) : undefined,
  };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
