/** What every scenario gets and returns, plus helpers shared by several of them. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnChild, type Child } from './proc.js';
import type { ScenarioResult } from './result.js';

export interface ScenarioContext {
  quick: boolean;
  log(line: string): void;
  /** Every child spawned through ctx.spawn is killed when the scenario ends, even on error. */
  spawn(name: string, rel: string, args?: Record<string, unknown>): Promise<Child>;
}

export type ScenarioBody = Omit<ScenarioResult, 'scenario' | 'title' | 'at' | 'quick' | 'durationMs' | 'machine'>;

export interface Scenario {
  name: string;
  title: string;
  /** One line for `pcm bench --help`. */
  summary: string;
  /** Rounds of a full (not --quick) run, combined by median (bench/lib/rounds.ts); default 1. */
  rounds?: number;
  run(ctx: ScenarioContext): Promise<ScenarioBody>;
}

export function tempDataDir(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `pcm-bench-${label}-`));
}

/** `; SQLite writer: inline` for a gateway child that runs the SQLite store (PCM_SQLITE_WRITER resolved), else ''. */
export function writerNote(ready: Record<string, unknown>): string {
  return typeof ready.sqliteWriter === 'string' ? `; SQLite writer: ${ready.sqliteWriter}` : '';
}

/** Source addresses 127.0.0.2.. so each load child's ephemeral ports do not run out past 64k. */
export function sourceAddresses(child: number, perChild = 2): string[] {
  return Array.from({ length: perChild }, (_, k) => `127.0.0.${2 + ((child * perChild + k) % 250)}`);
}

/** At most this many connections per load-generator process (the 20,000 open-files cap, with room). */
export const MAX_CONNECTIONS_PER_LOADER = 9_000;

export interface LoaderOptions { perLoader?: number; budgetMs?: number; concurrency?: number; firstChildIndex?: number }
export interface ConnectSummary { loaders: Child[]; connected: number; failed: number; ms: number; perSec: number; errors: Record<string, number> }

/** Spawns enough `load/terminals.ts` children for `count` terminals of one mode (none connected yet). */
export async function spawnLoaders(ctx: ScenarioContext, label: string, mode: string, url: string, prefix: string, count: number, opts: LoaderOptions = {}): Promise<Child[]> {
  const per = Math.min(opts.perLoader ?? MAX_CONNECTIONS_PER_LOADER, MAX_CONNECTIONS_PER_LOADER);
  const n = Math.max(1, Math.ceil(count / per));
  return Promise.all(Array.from({ length: n }, (_, i) => ctx.spawn(`${label}-load-${i}`, 'load/terminals.ts', {
    mode, url, prefix, start: i * per, count: Math.min(per, count - i * per),
    localAddresses: sourceAddresses((opts.firstChildIndex ?? 0) + i), concurrency: opts.concurrency ?? 64,
  })));
}

/** Connects every loader's terminals in parallel; the clock starts here, not at process spawn. */
export async function connectLoaders(loaders: Child[], budgetMs = 120_000): Promise<ConnectSummary> {
  const t0 = performance.now();
  const res = await Promise.all(loaders.map((l) => l.call<{ connected: number; failed: number; errors: Record<string, number> }>('connect', { budgetMs }, budgetMs + 60_000)));
  const ms = performance.now() - t0;
  const connected = res.reduce((s, r) => s + r.connected, 0);
  const errors: Record<string, number> = {};
  for (const r of res) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return { loaders, connected, failed: res.reduce((s, r) => s + r.failed, 0), ms, perSec: connected / (ms / 1000), errors };
}

/** spawnLoaders + connectLoaders. */
export async function connectTerminals(ctx: ScenarioContext, label: string, mode: string, url: string, prefix: string, count: number, opts: LoaderOptions = {}): Promise<ConnectSummary> {
  return connectLoaders(await spawnLoaders(ctx, label, mode, url, prefix, count, opts), opts.budgetMs);
}

/** Polls the loaders until `target` frames arrived in total, or `timeoutMs`; returns elapsed ms from `t0`. */
export async function waitDelivered(loaders: Child[], target: number, t0: number, timeoutMs: number): Promise<{ received: number; ms: number }> {
  for (;;) {
    const stats = await Promise.all(loaders.map((l) => l.call<{ received: number }>('stats')));
    const received = stats.reduce((s, r) => s + r.received, 0);
    const ms = performance.now() - t0;
    if (received >= target || ms > timeoutMs) return { received, ms };
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits for the warm-up traffic to arrive, then zeroes the loaders' receive counters. */
export async function settleWarmup(loaders: Child[], count: number, t0: number, timeoutMs: number): Promise<void> {
  const got = await waitDelivered(loaders, count, t0, timeoutMs);
  if (got.received < count) throw new Error(`warm-up: ${got.received} of ${count} messages arrived within ${timeoutMs} ms`);
  await Promise.all(loaders.map((l) => l.call('reset')));
}

export type Mem = { rss: number; heapUsed: number; external: number };

/**
 * A ScenarioContext for a standalone tool under bench/ (delivery-cpu, connect-cpu): full
 * sizes, progress on stderr, and every child it spawns kept in `children` for killAll().
 */
export function toolContext(): { ctx: ScenarioContext; children: Child[] } {
  const children: Child[] = [];
  const ctx: ScenarioContext = {
    quick: false,
    log: (line) => process.stderr.write(`${line}\n`),
    async spawn(name, rel, args) {
      const c = await spawnChild(name, rel, args);
      children.push(c);
      return c;
    },
  };
  return { ctx, children };
}
