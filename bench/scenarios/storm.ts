/**
 * Reconnect storm (issue 8): ~20,000 terminals lose their gateways at once. What reconnects is
 * the real terminal SDK (PcmClient, WebSocket, profile `normal`: full-jitter backoff 1 s base,
 * 30 s cap; discovery before every connect), in load-generator children of <= 5,000 each.
 * The gateways and discovery are real processes sharing the operator's assignments document
 * (a file both watch, as the mounted ConfigMap), so the scenario does what the operator does.
 *
 * (a) client jitter only: the gateways holding every terminal are killed with SIGKILL and the
 *     document is rewritten to list the survivors (detection lag 0: the best case for kube).
 *     Terminals notice the dead socket, wait their jitter, ask discovery, dial a survivor.
 * (b) server-assigned reconnect windows: the survivors (now holding everyone) are marked
 *     `draining` next to two fresh gateways: each drain frame carries the reconnectAfterMs that
 *     spreads its terminal over the first 80 % of PCM_DRAIN_SECONDS (gateway/core/engine.ts).
 * (c) failover: the gateways holding everyone (the fresh ones) are killed with SIGKILL and the
 *     document is NOT changed (a failure Kubernetes has not noticed, or cannot see): the SDK
 *     names its gateway to discovery after two unreachable attempts (`?unreachable=`) and
 *     gets its next rendezvous choice among the survivors (put back in service).
 *
 * Measured at the gateways that receive the terminals: session arrivals per second (the SDK's
 * `connected` event, at `welcome`), refusals by admission control and by flapping detection
 * (their /metrics), the errors the clients saw, and the time until every terminal is back.
 * Bounded: a budget per phase; a machine that cannot connect the full population in time
 * continues with what connected and says so.
 */
import os from 'node:os';
import path from 'node:path';
import { renameSync, writeFileSync } from 'node:fs';
import type { Child } from '../lib/proc.js';
import type { ResultRow } from '../lib/result.js';
import { quantile } from '../lib/stats.js';
import { tempDataDir, type Scenario, type ScenarioContext } from '../lib/scenario.js';

/** Terminals per load-generator process (each holds a socket per terminal plus discovery requests in flight). */
const PER_LOADER = 5_000;
/** Sessions per gateway process at most (the 20,000 open-files cap, with room). */
const PER_GATEWAY = 10_000;
/** Generous bytes per SDK terminal across loader + gateway processes (checked against free memory). */
const BYTES_PER_TERMINAL = 120_000;

interface LoaderStats {
  total: number;
  connected: number;
  arrivals: number;
  stray: number;
  lastArrivalAt: number;
  buckets: Record<string, number>;
  attempts: number;
  drains: number;
  failovers: number;
  errors: Record<string, number>;
  messages: Record<string, number>;
  byGateway: Record<string, number>;
  /** Per error code, the last events of a few terminals that saw it. */
  examples?: Record<string, string[]>;
}

interface Gw {
  id: string;
  child: Child;
}

interface PhaseResult {
  row: ResultRow;
  perSecond: number[];
  /** Client error messages by shape, most frequent first (JSON only). */
  messages: Record<string, number>;
  /** Per error code, what a few terminals that saw it did just before (JSON only). */
  examples: Record<string, string[]>;
}

async function counter(gw: Gw, name: string): Promise<number> {
  try {
    const text = await fetch(`${String(gw.child.ready.httpUrl)}/metrics`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text());
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  } catch {
    return NaN;
  }
}

async function counters(gws: Gw[]): Promise<{ admission: number; flapping: number }> {
  const [a, f] = await Promise.all([Promise.all(gws.map((g) => counter(g, 'pcm_connections_refused_total'))), Promise.all(gws.map((g) => counter(g, 'pcm_connections_flapping_refused_total')))]);
  return { admission: a.reduce((s, v) => s + v, 0), flapping: f.reduce((s, v) => s + v, 0) };
}

async function allStats(loaders: Child[]): Promise<LoaderStats[]> {
  return Promise.all(loaders.map((l) => l.call<LoaderStats>('stats', {}, 30_000)));
}

/**
 * Marks the loaders, runs `trigger` (kill or drain), then polls until every terminal is
 * connected to one of `targets` or the budget is spent.
 */
async function phase(ctx: ScenarioContext, name: string, loaders: Child[], targets: Gw[], population: number, budgetMs: number, trigger: () => Promise<void> | void, note: string): Promise<PhaseResult> {
  const before = await counters(targets);
  const t0 = Date.now();
  await Promise.all(loaders.map((l) => l.call('mark', { at: t0, gateways: targets.map((g) => g.id) })));
  await trigger();
  let stats: LoaderStats[] = [];
  let back = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    stats = await allStats(loaders);
    back = stats.reduce((s, st) => s + targets.reduce((n, g) => n + (st.byGateway[g.id] ?? 0), 0), 0);
    if (back >= population || Date.now() - t0 > budgetMs) break;
  }
  const after = await counters(targets);
  const seconds = new Map<number, number>();
  for (const st of stats) for (const [k, v] of Object.entries(st.buckets)) seconds.set(Number(k), (seconds.get(Number(k)) ?? 0) + v);
  const lastSecond = Math.max(0, ...seconds.keys());
  const perSecond = Array.from({ length: lastSecond + 1 }, (_, s) => seconds.get(s) ?? 0);
  const firstSecond = perSecond.findIndex((v) => v > 0);
  const active = firstSecond < 0 ? [] : perSecond.slice(firstSecond).sort((a, b) => a - b);
  const arrivals = stats.reduce((s, st) => s + st.arrivals, 0);
  const lastArrivalAt = Math.max(0, ...stats.map((st) => st.lastArrivalAt));
  const errors: Record<string, number> = {};
  for (const st of stats) for (const [k, v] of Object.entries(st.errors)) errors[k] = (errors[k] ?? 0) + v;
  const clientErrors = Object.values(errors).reduce((s, v) => s + v, 0);
  const messages: Record<string, number> = {};
  for (const st of stats) for (const [k, v] of Object.entries(st.messages)) messages[k] = (messages[k] ?? 0) + v;
  for (const [k, v] of Object.entries(messages).sort((x, y) => y[1] - x[1]).slice(0, 8)) ctx.log(`storm ${name}: ${v} x ${k}`);
  const examples: Record<string, string[]> = {};
  for (const st of stats) for (const [code, trails] of Object.entries(st.examples ?? {})) examples[code] = [...(examples[code] ?? []), ...trails].slice(0, 3);
  for (const [code, trails] of Object.entries(examples)) for (const tr of trails.slice(0, 1)) ctx.log(`storm ${name}: a terminal that saw ${code}: ${tr}`);
  const all = back >= population;
  const row: ResultRow = {
    name,
    role: 'pcm',
    metrics: {
      terminals: population,
      reconnected: back,
      peakArrivalsPerSec: Math.max(0, ...perSecond),
      p50ArrivalsPerSec: active.length ? quantile(active, 0.5) : 0,
      timeToAllMs: all ? lastArrivalAt - t0 : NaN,
      timeTo99PctMs: timeToFraction(perSecond, population, 0.99),
      refusedAdmission: after.admission - before.admission,
      refusedFlapping: after.flapping - before.flapping,
      clientErrors,
      reconnectAttempts: stats.reduce((s, st) => s + st.attempts, 0),
      failovers: stats.reduce((s, st) => s + (st.failovers ?? 0), 0),
      arrivals,
    },
    note: `${note}; client errors: ${Object.entries(errors).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}${all ? '' : `; NOT all back within ${Math.round(budgetMs / 1000)} s`}`,
  };
  ctx.log(`storm ${name}: ${back}/${population} back, peak ${row.metrics.peakArrivalsPerSec}/s, p50 ${row.metrics.p50ArrivalsPerSec}/s, all in ${row.metrics.timeToAllMs} ms, refused ${row.metrics.refusedAdmission} (admission) ${row.metrics.refusedFlapping} (flapping), ${clientErrors} client errors`);
  return { row, perSecond, messages, examples };
}

/** Whole seconds (as ms) until `fraction` of the population had arrived; NaN if never. */
function timeToFraction(perSecond: number[], population: number, fraction: number): number {
  let sum = 0;
  for (let s = 0; s < perSecond.length; s++) {
    sum += perSecond[s]!;
    if (sum >= population * fraction) return (s + 1) * 1000;
  }
  return NaN;
}

export const storm: Scenario = {
  name: 'storm',
  title: 'Reconnect storm: terminals lose their gateway at once',
  summary: '20,000 SDK terminals (WebSocket) lose their gateways: kill -9 (client jitter only) vs drain (server-assigned reconnect windows) vs kill -9 that discovery is never told of (SDK failover); arrivals/s, refusals, errors, time to all back',
  async run(ctx) {
    const notes: string[] = [];
    // PCM_BENCH_STORM_TERMINALS: another size (a smaller machine, or a bisecting run).
    let target = Number(process.env.PCM_BENCH_STORM_TERMINALS) > 0 ? Number(process.env.PCM_BENCH_STORM_TERMINALS) : ctx.quick ? 400 : 20_000;
    const fits = Math.floor((os.freemem() * 0.6) / BYTES_PER_TERMINAL);
    if (fits < target) {
      notes.push(`Free memory ${Math.round(os.freemem() / 2 ** 20)} MB holds about ${fits} SDK terminals at ${BYTES_PER_TERMINAL} B each across all processes: scaled down from ${target} to ${fits}.`);
      target = fits;
    }
    const perGroup = Math.max(2, Math.ceil(target / PER_GATEWAY));
    const drainSeconds = ctx.quick ? 6 : 30;
    const connectBudgetMs = ctx.quick ? 30_000 : 100_000;
    const phaseBudgetMs = ctx.quick ? 30_000 : 90_000;
    const maxConnectsPerSecond = 2_000;
    // Drain frames go out within the first half of the window, so the reconnectAfterMs targets set the pace.
    const drainRate = Math.max(200, Math.ceil(target / perGroup / (drainSeconds * 0.5)));

    const dir = tempDataDir('storm');
    // One store for every gateway, as Couchbase is in production: SQLite in WAL mode across
    // processes. With a file per gateway every reconnect would be a terminal the survivor has
    // never seen, and creating its counter is a write transaction (an fsync under FULL) on the
    // gateway's main thread: a bench artifact that measured the disk, not the storm.
    const storeDir = tempDataDir('storm-store');
    const file = path.join(dir, 'gateways.json');
    let generation = 0;
    const publish = (entries: { gw: Gw; draining?: boolean }[]) => {
      const doc = { generation: ++generation, gateways: entries.map(({ gw, draining }) => ({ id: gw.id, websocketUrl: String(gw.child.ready.websocketUrl), mqttUrl: String(gw.child.ready.mqttUrl), weight: 1, draining: draining ?? false })) };
      writeFileSync(`${file}.tmp`, JSON.stringify(doc));
      renameSync(`${file}.tmp`, file); // atomic, as the kubelet's ConfigMap swap
    };
    writeFileSync(file, JSON.stringify({ generation: ++generation, gateways: [] }));
    // One process at a time: on a shared two-core machine a dozen processes compiling TypeScript
    // at once miss the harness's start timeout.
    const spawnGroup = async (label: string) => {
      const out: Gw[] = [];
      for (let i = 0; i < perGroup; i++) {
        const id = `${label}-${i}`;
        out.push({ id, child: await ctx.spawn(id, 'servers/gateway.ts', { gatewayId: id, dataDir: storeDir, assignmentsFile: file, drainSeconds, drainRate, maxConnectsPerSecond }) });
      }
      return out;
    };
    const victims = await spawnGroup('victim');
    const survivors = await spawnGroup('survivor');
    const fresh = await spawnGroup('fresh');
    publish(victims.map((gw) => ({ gw })));
    // pollAfterSeconds 3600: no terminal re-polls discovery during the run, so every move is the storm's.
    const discovery = await ctx.spawn('discovery', 'servers/discovery.ts', { gatewaysFile: file, pollSeconds: 3600 });
    await new Promise((r) => setTimeout(r, 500)); // the file source's first load

    const nLoaders = Math.max(2, Math.ceil(target / PER_LOADER));
    const per = Math.ceil(target / nLoaders);
    const loaders: Child[] = [];
    for (let i = 0; i < nLoaders; i++) loaders.push(await ctx.spawn(`storm-load-${i}`, 'load/sdk-terminals.ts', { discoveryUrl: String(discovery.ready.httpUrl), prefix: 'st-', start: i * per, count: Math.min(per, target - i * per) }));
    const t0 = performance.now();
    const started = await Promise.all(loaders.map((l) => l.call<{ connected: number; ms: number }>('start', { concurrency: ctx.quick ? 20 : 100, budgetMs: connectBudgetMs }, connectBudgetMs + 60_000)));
    const connectMs = performance.now() - t0;
    let population = started.reduce((s, r) => s + r.connected, 0);
    ctx.log(`storm: ${population}/${target} terminals connected to ${victims.length} gateways in ${Math.round(connectMs)} ms`);
    if (population < target) {
      notes.push(`Only ${population} of ${target} terminals connected within ${connectBudgetMs / 1000} s: the storm ran with those (the rest kept trying and count as stragglers).`);
      // The stragglers are still retrying: they are part of the storm, so wait for them too.
      population = target;
    }

    // (a) kill -9 every gateway holding the terminals; the survivors are published at once.
    const a = await phase(ctx, '(a) kill -9, client jitter only', loaders, survivors, population, phaseBudgetMs, () => {
      for (const v of victims) v.child.proc.kill('SIGKILL');
      publish(survivors.map((gw) => ({ gw })));
    }, `${victims.length} gateways killed, ${survivors.length} survivors, discovery updated at the kill`);

    // (b) the survivors drain towards fresh gateways: server-assigned reconnect windows.
    const b = await phase(ctx, `(b) drain, ${drainSeconds} s window`, loaders, fresh, population, drainSeconds * 1000 + phaseBudgetMs / 2, () => {
      publish([...survivors.map((gw) => ({ gw, draining: true })), ...fresh.map((gw) => ({ gw }))]);
    }, `${survivors.length} gateways marked draining (PCM_DRAIN_SECONDS ${drainSeconds}, PCM_DRAIN_RATE ${drainRate}), ${fresh.length} fresh ones`);

    // (c) the fresh gateways (holding everyone now) die, and NOBODY tells discovery: the set
    // still lists them as assignable next to the survivors (put back in service). Terminals
    // find out alone: two attempts that cannot reach their gateway, then the SDK's failover
    // (`?unreachable=`, docs/client.md) gives each its next rendezvous choice. A terminal whose
    // next choice is another dead fresh gateway names that one too after two more attempts.
    publish([...fresh.map((gw) => ({ gw })), ...survivors.map((gw) => ({ gw }))]);
    await new Promise((r) => setTimeout(r, 3_000)); // discovery and the gateways reload the set (cancelled drains end)
    const c = await phase(ctx, '(c) kill -9, discovery not told: SDK failover', loaders, survivors, population, phaseBudgetMs, () => {
      for (const v of fresh) v.child.proc.kill('SIGKILL');
    }, `${fresh.length} gateways killed and left in discovery's set as assignable next to ${survivors.length} live ones (terminals whose home is now a live one reconnect straight there; the others fail over after 2 unreachable attempts)`);

    notes.push(
      'Terminals: the real SDK (PcmClient, WebSocket only, profile `normal`), so the reconnect path is what ships: drop -> full-jitter backoff (attempt 0: 0-1 s) -> discovery -> dial; `Retry-After` and `drain` obeyed. MQTT is not in this scenario (aedes connects are covered by `connections` / `scale100k`).',
      `All gateways share one SQLite store and presence file (WAL, several processes), standing in for Couchbase: a reconnect costs its JWT check, a presence claim (a write) and a counter read, as in production, minus the network; the relay is in-process (takeover events between gateways go nowhere, and are not needed here). Admission control ${maxConnectsPerSecond}/s per gateway (the default), flapping detection at its defaults (10 connects per 60 s).`,
      `Load average at the end: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')} (at the start: see machine). ${nLoaders} loaders, ${perGroup * 3} gateways, discovery and the runner share ${os.cpus().length} cores: arrivals per second here are a floor set by the machine, the shape (peak vs spread) is what carries over.`,
      `Initial connect of ${population} terminals took ${Math.round(connectMs / 1000)} s.`,
    );
    const flapping = [a, b, c].reduce((n, p) => n + (p.row.metrics.refusedFlapping ?? 0), 0);
    return {
      params: { terminals: target, population, gatewaysPerGroup: perGroup, loaders: nLoaders, drainSeconds, drainRate, maxConnectsPerSecond, connectMs: Math.round(connectMs), arrivalsPerSecond: { a: a.perSecond, b: b.perSecond, c: c.perSecond }, clientErrorMessages: { a: a.messages, b: b.messages, c: c.messages }, clientErrorExamples: { a: a.examples, b: b.examples, c: c.examples } },
      rows: [a.row, b.row, c.row],
      chartMetric: 'peakArrivalsPerSec',
      ratios: [
        { name: '(b) peak / (a) peak arrivals per second', value: a.row.metrics.peakArrivalsPerSec ? Math.round((b.row.metrics.peakArrivalsPerSec! / a.row.metrics.peakArrivalsPerSec) * 1000) / 1000 : NaN },
        { name: 'terminals refused as flapping (a + b + c), target 0', value: flapping, target: '= 0', pass: flapping === 0 },
        { name: 'all reconnected in (a) and (b)', value: Number(a.row.metrics.reconnected === population && b.row.metrics.reconnected === population), target: '= 1', pass: a.row.metrics.reconnected === population && b.row.metrics.reconnected === population },
        { name: 'all reconnected in (c), discovery never told (SDK failover)', value: Number(c.row.metrics.reconnected === population), target: '= 1', pass: c.row.metrics.reconnected === population },
      ],
      notes,
      timeline: { title: 'Reconnect storm: session arrivals per second at the receiving gateways', xLabel: 'seconds after the kill (a, c) / the drain mark (b)', series: [{ name: '(a) kill -9, client jitter only', points: a.perSecond }, { name: `(b) drain, ${drainSeconds} s window`, points: b.perSecond }, { name: '(c) kill -9, discovery not told: SDK failover', points: c.perSecond }] },
    };
  },
};
