/**
 * Repeated rounds of one scenario, combined into one result.
 *
 * On a shared VM the machine's speed drifts by tens of percent within minutes: the same build
 * gave the raw `ws` baseline 46,815 to 92,086 msg/s in runs minutes apart. One baseline row
 * measured a minute before its PCM row can then decide a ratio on its own. So the scenarios
 * whose verdicts sit near a target run several rounds. Every round measures its baselines and
 * PCM rows back to back, so each round's ratios compare neighbours in time. The published value
 * is the median over the rounds of each metric and of each ratio, and the JSON keeps every
 * round's values.
 */
import { check, type RatioCheck, type ResultRow, type RoundValues } from './result.js';
import type { ScenarioBody } from './scenario.js';

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * Medians of every row metric (rows matched by name, in first-round order) and of every ratio
 * (matched by name; the target is re-judged on the median). Params, chart metric, notes and
 * timeline come from the first round. One round is returned unchanged.
 */
export function combineRounds(bodies: readonly ScenarioBody[]): ScenarioBody {
  if (bodies.length === 0) throw new Error('combineRounds: no rounds');
  if (bodies.length === 1) return bodies[0]!;
  const first = bodies[0]!;
  const rows: ResultRow[] = first.rows.map((row) => {
    const same = bodies.map((b) => b.rows.find((r) => r.name === row.name)).filter((r): r is ResultRow => r !== undefined);
    const keys = [...new Set(same.flatMap((r) => Object.keys(r.metrics)))];
    return { ...row, metrics: Object.fromEntries(keys.map((k) => [k, median(same.map((r) => r.metrics[k] ?? NaN))])) };
  });
  const ratios: RatioCheck[] = first.ratios.map((ratio) => {
    const values = bodies.map((b) => b.ratios.find((r) => r.name === ratio.name)?.value ?? NaN);
    const value = median(values);
    const rounded = values.map((v) => Math.round(v * 1000) / 1000);
    const m = ratio.target ? /^(>=|<=) (-?[\d.]+)$/.exec(ratio.target) : null;
    const judged = m ? check(ratio.name, value, m[1] as '>=' | '<=', Number(m[2])) : { name: ratio.name, value };
    return { ...judged, rounds: rounded };
  });
  return {
    ...first,
    rows,
    ratios,
    notes: [`Median of ${bodies.length} rounds; each round measured its baselines and PCM rows back to back (per-round values: the ratio table and \`rounds\` in the JSON).`, ...first.notes],
    rounds: bodies.map((b) => ({ rows: b.rows.map((r) => ({ name: r.name, metrics: r.metrics })), ratios: b.ratios.map((r) => ({ name: r.name, value: r.value })) })),
  };
}
