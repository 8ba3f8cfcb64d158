/**
 * `pcm bench` engine: runs named scenarios one after another (never in parallel: each one's
 * baseline must see the same machine), prints a markdown table per scenario with the machine,
 * and writes bench/results/<scenario>.json + .svg.
 */
import { killAll, spawnChild, type Child } from './lib/proc.js';
import { machineInfo } from './lib/machine.js';
import { formatResult, writeResult, type ScenarioResult } from './lib/result.js';
import type { Scenario, ScenarioBody, ScenarioContext } from './lib/scenario.js';
import { combineRounds } from './lib/rounds.js';
import { latency } from './scenarios/latency.js';
import { http } from './scenarios/http.js';
import { discovery } from './scenarios/discovery.js';
import { throughput } from './scenarios/throughput.js';
import { memory, connections } from './scenarios/memory.js';
import { drain } from './scenarios/drain.js';
import { scale100k } from './scenarios/scale100k.js';
import { scaleModel } from './scenarios/scale-model.js';
import { storm } from './scenarios/storm.js';

export const scenarios: Scenario[] = [latency, throughput, http, memory, connections, drain, discovery, scale100k, scaleModel, storm];
/** What `pcm bench` runs with no names: everything but the long ones (100k scale test, 20k reconnect storm). */
export const defaultScenarios = scenarios.filter((s) => s.name !== 'scale100k' && s.name !== 'storm').map((s) => s.name);

export interface RunOptions {
  quick?: boolean;
  log?: (line: string) => void;
  resultsDir?: string;
  /** Rounds per scenario (default: the scenario's own for a full run, 1 with --quick). */
  rounds?: number;
}

export async function runScenario(s: Scenario, opts: RunOptions = {}): Promise<ScenarioResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`[bench] ${l}\n`));
  const children: Child[] = [];
  const ctx: ScenarioContext = {
    quick: opts.quick ?? false,
    log,
    async spawn(name, rel, args) {
      const c = await spawnChild(name, rel, args);
      children.push(c);
      return c;
    },
  };
  const machine = machineInfo();
  const t0 = performance.now();
  const rounds = opts.rounds ?? (ctx.quick ? 1 : (s.rounds ?? 1));
  const bodies: ScenarioBody[] = [];
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) log(`${s.name}: round ${round} of ${rounds}`);
    try {
      bodies.push(await s.run(ctx));
    } finally {
      await killAll(children.splice(0));
    }
  }
  const result: ScenarioResult = { scenario: s.name, title: s.title, at: new Date().toISOString(), quick: ctx.quick, durationMs: Math.round(performance.now() - t0), machine, ...combineRounds(bodies) };
  writeResult(result, opts.resultsDir);
  return result;
}

export function machineLine(): string {
  const m = machineInfo();
  return `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, Node ${m.node}, ${m.platform}, load average ${m.loadAverage.join(' ')}, open files ${m.openFilesLimit}`;
}

export async function runBench(names: string[], opts: RunOptions = {}): Promise<ScenarioResult[]> {
  const chosen = (names.length ? names : defaultScenarios).map((n) => {
    const s = scenarios.find((x) => x.name === n);
    if (!s) throw new Error(`unknown scenario "${n}"; known: ${scenarios.map((x) => x.name).join(', ')}`);
    return s;
  });
  const out: ScenarioResult[] = [];
  process.stdout.write(`${machineLine()}\n\n`);
  for (const s of chosen) {
    const r = await runScenario(s, opts);
    process.stdout.write(`${formatResult(r)}\n\n`);
    out.push(r);
  }
  return out;
}
