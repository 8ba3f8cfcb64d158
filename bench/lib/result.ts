/**
 * One scenario's result: rows (PCM and its baselines, measured in the same run), ratios
 * against the targets, the machine, and where it was written (bench/results/).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchDir } from './proc.js';
import type { MachineInfo } from './machine.js';
import { barChartSvg, lineChartSvg, type Series } from './svg.js';

export interface ResultRow {
  name: string;
  role: 'pcm' | 'baseline';
  /** Metric name -> value; units are in the metric name (perSec, Ms, Bytes). */
  metrics: Record<string, number>;
  note?: string;
}

export interface RatioCheck {
  name: string;
  value: number;
  /** e.g. ">= 0.5" or "<= 2"; absent when the issue sets no target. */
  target?: string;
  pass?: boolean;
  /** With several rounds: each round's value (`value` is their median). */
  rounds?: number[];
}

/** Per-round values of a scenario run in several rounds (bench/lib/rounds.ts). */
export interface RoundValues {
  rows: { name: string; metrics: Record<string, number> }[];
  ratios: { name: string; value: number }[];
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  at: string;
  quick: boolean;
  durationMs: number;
  machine: MachineInfo;
  params: Record<string, unknown>;
  rows: ResultRow[];
  ratios: RatioCheck[];
  /** The metric drawn in the chart. */
  chartMetric: string;
  notes: string[];
  /** Optional time series (e.g. arrivals per second), drawn as `<scenario>-timeline.svg`. */
  timeline?: { xLabel: string; title: string; series: Series[] };
  /** Present when the scenario ran several rounds: rows and ratios above are medians. */
  rounds?: RoundValues[];
}

export function check(name: string, value: number, op: '>=' | '<=', bound: number): RatioCheck {
  const pass = Number.isFinite(value) ? (op === '>=' ? value >= bound : value <= bound) : false;
  return { name, value, target: `${op} ${bound}`, pass };
}

export const resultsDir = path.join(benchDir, 'results');

/** Writes `<scenario>.json` and `<scenario>.svg` (latest run; the JSON says when and where). */
export function writeResult(r: ScenarioResult, dir = resultsDir): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${r.scenario}.json`);
  const svg = path.join(dir, `${r.scenario}.svg`);
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  const bars = r.rows
    .filter((row) => Number.isFinite(row.metrics[r.chartMetric]))
    .map((row) => ({ label: row.name, value: row.metrics[r.chartMetric]!, baseline: row.role === 'baseline' }));
  const subtitle = `${r.machine.cpuModel}, ${r.machine.cores} cores, Node ${r.machine.node}${r.quick ? ' (quick)' : ''}`;
  writeFileSync(svg, barChartSvg(`${r.title}: ${r.chartMetric}`, subtitle, bars));
  if (r.timeline) writeFileSync(path.join(dir, `${r.scenario}-timeline.svg`), lineChartSvg(r.timeline.title, subtitle, r.timeline.xLabel, r.timeline.series));
  return { json, svg };
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(3).replace(/\.?0+$/, '') || '0';
}

/** Markdown table: one row per measured row, one column per metric, then the ratio checks. */
export function formatResult(r: ScenarioResult): string {
  const metrics = [...new Set(r.rows.flatMap((row) => Object.keys(row.metrics)))];
  const lines = [`### ${r.title} (\`${r.scenario}\`${r.quick ? ', quick' : ''})`, ''];
  lines.push(`| row | ${metrics.join(' | ')} | note |`, `|---|${metrics.map(() => '---:').join('|')}|---|`);
  for (const row of r.rows) lines.push(`| ${row.role === 'baseline' ? '(baseline) ' : ''}${row.name} | ${metrics.map((m) => fmt(row.metrics[m])).join(' | ')} | ${row.note ?? ''} |`);
  if (r.ratios.length) {
    const perRound = r.ratios.some((c) => c.rounds);
    lines.push('', `| ratio | value | target | |${perRound ? ' per round |' : ''}`, `|---|---:|---|---|${perRound ? '---|' : ''}`);
    for (const c of r.ratios) {
      const rounds = perRound ? ` ${(c.rounds ?? []).map(fmt).join(' / ')} |` : '';
      lines.push(`| ${c.name} | ${fmt(c.value)} | ${c.target ?? '-'} | ${c.pass === undefined ? '' : c.pass ? 'met' : 'NOT met'} |${rounds}`);
    }
  }
  for (const n of r.notes) lines.push('', `> ${n}`);
  return lines.join('\n');
}
