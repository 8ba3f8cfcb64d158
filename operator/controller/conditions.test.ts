import { describe, expect, it } from 'vitest';
import { setCondition, setConditions } from './conditions.js';

describe('conditions', () => {
  it('lastTransitionTime moves only when status flips', () => {
    let c = setCondition([], { type: 'Ready', status: 'False', reason: 'NotReady', message: '0/3' }, 't1', 1);
    c = setCondition(c, { type: 'Ready', status: 'False', reason: 'NotReady', message: '1/3' }, 't2', 2);
    expect(c).toEqual([{ type: 'Ready', status: 'False', reason: 'NotReady', message: '1/3', lastTransitionTime: 't1', observedGeneration: 2 }]);
    c = setCondition(c, { type: 'Ready', status: 'True', reason: 'AllReady', message: '3/3' }, 't3', 2);
    expect(c[0]!.lastTransitionTime).toBe('t3');
  });

  it('keeps a fixed order so the same state serialises identically', () => {
    const a = setConditions([], [
      { type: 'Degraded', status: 'False', reason: 'r', message: 'm' },
      { type: 'Ready', status: 'True', reason: 'r', message: 'm' },
      { type: 'Progressing', status: 'False', reason: 'r', message: 'm' },
    ], 't');
    expect(a.map((c) => c.type)).toEqual(['Ready', 'Progressing', 'Degraded']);
  });
});
