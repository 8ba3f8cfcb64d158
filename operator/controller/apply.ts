import { PcmError } from '../../common/errors.js';
import type { KubeClient } from '../kube/client.js';
import { refString, type KubeObject, type ObjectRef } from '../kube/object.js';
import { GROUP } from '../api/group.js';
import { stableHash } from './steps/common.js';

/**
 * The one generic apply (DESIGN.md section 7): get -> create | compare -> patch | unchanged,
 * or delete when the builder says the object must not exist. Level-based and idempotent:
 * the same desired object twice is one write, then none.
 *
 * "Unchanged" needs two things: the desired-state hash the operator stamped last time
 * (catches the operator's own changes, including fields it stopped setting) and every field
 * it sets still holding its value (catches someone else's edit, e.g. `kubectl scale sts`).
 * Writes are server-side apply with force: creation and update use the same field manager,
 * so fields dropped from the builder are removed by the API server.
 */
export type ApplyAction = 'created' | 'patched' | 'unchanged' | 'deleted' | 'absent';

export interface ApplyResult {
  ref: ObjectRef;
  action: ApplyAction;
  object?: KubeObject;
}

export const ANNOTATION_DESIRED_HASH = `${GROUP}/desired-hash`;

/** Subtrees the API server rewrites into a canonical form (resource quantities): left to the hash. */
const CANONICALISED = new Set(['resources']);

/** True when every value `want` sets is present and equal in `have` (server defaults ignored). */
export function isSubset(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => isSubset(w, have[i]));
  }
  if (want !== null && typeof want === 'object') {
    if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
    const h = have as Record<string, unknown>;
    return Object.entries(want as Record<string, unknown>).every(([k, v]) => {
      if (v === undefined) return true;
      if (CANONICALISED.has(k)) return k in h;
      return isSubset(v, h[k]);
    });
  }
  return want === have;
}

export function withDesiredHash(desired: KubeObject): KubeObject {
  const hash = stableHash(desired);
  return { ...desired, metadata: { ...desired.metadata, annotations: { ...(desired.metadata.annotations ?? {}), [ANNOTATION_DESIRED_HASH]: hash } } };
}

export function isControlledBy(obj: KubeObject, ownerUid: string): boolean {
  return (obj.metadata.ownerReferences ?? []).some((o) => o.controller && o.uid === ownerUid);
}

export async function applyDesired(kube: KubeClient, ref: ObjectRef, desired: KubeObject | undefined, ownerUid: string): Promise<ApplyResult> {
  const existing = await kube.get(ref);
  if (existing && !isControlledBy(existing, ownerUid)) {
    // Never adopt or delete what someone else made under our name: say so (Degraded) instead.
    throw new PcmError('PCM_ERR_CONFIG', `${refString(ref)} exists and is not controlled by this PCMCluster; rename or delete it`, {
      details: { object: refString(ref) },
    });
  }
  if (!desired) {
    if (!existing) return { ref, action: 'absent' };
    const gone = await kube.delete(ref, { preconditionUid: existing.metadata.uid });
    return { ref, action: gone ? 'deleted' : 'absent' };
  }
  const stamped = withDesiredHash(desired);
  if (existing && !existing.metadata.deletionTimestamp) {
    const sameHash = existing.metadata.annotations?.[ANNOTATION_DESIRED_HASH] === stamped.metadata.annotations![ANNOTATION_DESIRED_HASH];
    if (sameHash && isSubset(desired, existing)) return { ref, action: 'unchanged', object: existing };
  }
  const object = await kube.applyObject(stamped);
  return { ref, action: existing ? 'patched' : 'created', object };
}
