import { describe, expect, it } from 'vitest';
import { check, formatResult, type ScenarioResult } from './result.js';
import { combineRounds, median } from './rounds.js';
import type { ScenarioBody } from './scenario.js';

const body = (bare: number, pcm: number, note = 'n'): ScenarioBody => ({
  params: { n: 1 },
  rows: [
    { name: 'bare', role: 'baseline', metrics: { perSec: bare } },
    { name: 'pcm', role: 'pcm', metrics: { perSec: pcm, p99Ms: pcm / 1000 } },
  ],
  ratios: [check('pcm / bare', pcm / bare, '>=', 0.5), { name: 'info', value: bare }],
  chartMetric: 'perSec',
  notes: [note],
});

describe('bench rounds', () => {
  it('median of odd and even counts, ignoring non-finite values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5])).toBe(5);
    expect(median([])).toBeNaN();
  });

  it('one round is returned unchanged', () => {
    const b = body(100, 60);
    expect(combineRounds([b])).toBe(b);
  });

  it('takes medians of every row metric and ratio, re-judges the target on the median, keeps every round', () => {
    // round ratios 0.6, 0.4, 0.45: the median 0.45 misses 0.5 although one round met it
    const r = combineRounds([body(100, 60), body(200, 80), body(200, 90)]);
    expect(r.rows.map((x) => x.metrics.perSec)).toEqual([200, 80]);
    expect(r.rows[1]!.metrics.p99Ms).toBeCloseTo(0.08);
    expect(r.ratios[0]).toMatchObject({ name: 'pcm / bare', value: 0.45, target: '>= 0.5', pass: false, rounds: [0.6, 0.4, 0.45] });
    expect(r.ratios[1]).toMatchObject({ name: 'info', value: 200, rounds: [100, 200, 200] });
    expect(r.ratios[1]!.pass).toBeUndefined();
    expect(r.rounds).toHaveLength(3);
    expect(r.rounds![0]!.ratios[0]!.value).toBeCloseTo(0.6);
    expect(r.notes[0]).toMatch(/Median of 3 rounds/);
    expect(r.notes[1]).toBe('n');
    const table = formatResult({ ...r, scenario: 's', title: 'T', at: '', quick: false, durationMs: 1, machine: {} as ScenarioResult['machine'] });
    expect(table).toContain('| pcm / bare | 0.45 | >= 0.5 | NOT met | 0.6 / 0.4 / 0.45 |');
  });
});
