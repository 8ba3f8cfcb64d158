import { CONDITION_TYPES, type Condition, type ConditionType } from '../api/schema.js';

/**
 * Status conditions (DESIGN.md section 7: "conditions change lastTransitionTime only on a
 * flip"). A new reason or message updates the condition in place; only a change of `status`
 * moves lastTransitionTime. Output is in the fixed order Ready, Progressing, Degraded, then
 * any others, so the same state always serialises the same way (and writes nothing).
 */
export interface ConditionUpdate {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export function setCondition(conditions: readonly Condition[] | undefined, update: ConditionUpdate, nowIso: string, observedGeneration?: number): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === update.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message,
    lastTransitionTime: prev && prev.status === update.status ? prev.lastTransitionTime : nowIso,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return sortConditions(list);
}

export function setConditions(conditions: readonly Condition[] | undefined, updates: readonly ConditionUpdate[], nowIso: string, observedGeneration?: number): Condition[] {
  return updates.reduce<Condition[]>((acc, u) => setCondition(acc, u, nowIso, observedGeneration), [...(conditions ?? [])]);
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

function sortConditions(list: Condition[]): Condition[] {
  const rank = (t: string) => {
    const i = (CONDITION_TYPES as readonly string[]).indexOf(t);
    return i < 0 ? CONDITION_TYPES.length : i;
  };
  return list.sort((a, b) => rank(a.type) - rank(b.type) || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}
