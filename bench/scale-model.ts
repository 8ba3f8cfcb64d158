/**
 * Scale-out model (issue 10; docs/scale-model.md): 10 million terminals over 100 gateways.
 *
 *   npx tsx bench/scale-model.ts [--sample 1000000]      (or `pcm bench scale-model`)
 *
 * 1. Terminals moved per scale step with rendezvous hashing (discovery/core/assignment.ts,
 *    the code discovery runs) vs the ideal 1/N, on a SAMPLE of terminal ids (default 1M,
 *    extrapolated to 10M), beside modulo hashing as the naive baseline.
 * 2. Relay events per message: targeted (PCM, DESIGN.md section 3) vs broadcast (the seed system).
 * 3. Couchbase KV operations per message and per reconnect, counted from the adapter code
 *    (gateway/adapters/couchbase/couchbase-store.ts, couchbase-directory.ts) and the engine's
 *    call sequence (gateway/core/engine.ts): a table derived by reading, not measured.
 * 4. Reconnect storm after a gateway loss: a discrete-time simulation of one surviving
 *    gateway (all survivors are symmetric under rendezvous hashing), with and without
 *    server-assigned reconnect windows.
 */
import { fileURLToPath } from 'node:url';
import { assignGateway, hash53, rendezvousScore } from '../discovery/core/assignment.js';
import type { ScenarioBody } from './lib/scenario.js';
import type { ResultRow } from './lib/result.js';

export const FLEET = { terminals: 10_000_000, gateways: 100 };

interface Gw { id: string; weight: number; draining: boolean }
const gw = (i: number): Gw => ({ id: `gw-${i}`, weight: 1, draining: false });

/** Fraction of sampled terminals whose gateway changes for each scale step. */
export function rendezvousMoves(sample: number, n = FLEET.gateways) {
  const base = Array.from({ length: n }, (_, i) => gw(i));
  const best = new Int32Array(sample);
  const bestScore = new Float64Array(sample);
  const perGateway = new Int32Array(n);
  for (let t = 0; t < sample; t++) {
    const id = `term-${t}`;
    const g = assignGateway(id, base)!;
    const k = Number(g.id.slice(3));
    best[t] = k;
    bestScore[t] = rendezvousScore(g, id);
    perGateway[k]!++;
  }
  // add one / add ten: a terminal moves iff one of the new gateways outscores its current one.
  const addMoves = (added: number) => {
    let moved = 0;
    const extra = Array.from({ length: added }, (_, i) => gw(n + i));
    for (let t = 0; t < sample; t++) {
      const id = `term-${t}`;
      if (extra.some((g) => rendezvousScore(g, id) > bestScore[t]!)) moved++;
    }
    return moved / sample;
  };
  // remove one: exactly the terminals of the removed gateway move (checked against a full recompute on a slice).
  const removed = 0;
  const removeMoves = perGateway[removed]! / sample;
  const without = base.filter((g) => g.id !== `gw-${removed}`);
  let crossMoves = 0;
  const check = Math.min(sample, 20_000);
  for (let t = 0; t < check; t++) {
    const id = `term-${t}`;
    if (best[t] !== removed && assignGateway(id, without)!.id !== `gw-${best[t]}`) crossMoves++;
  }
  // Modulo hashing, the naive baseline: gateway = hash(id) mod N.
  let modMoved = 0;
  for (let t = 0; t < sample; t++) {
    const h = hash53(`term-${t}`);
    if (h % n !== h % (n + 1)) modMoved++;
  }
  const mean = sample / n;
  return {
    sample,
    add1: { moved: addMoves(1), ideal: 1 / (n + 1) },
    add10: { moved: addMoves(10), ideal: 10 / (n + 10) },
    remove1: { moved: removeMoves, ideal: 1 / n, movedBetweenUnchangedGateways: crossMoves, checked: check },
    modulo: { moved: modMoved / sample, ideal: 1 / (n + 1) },
    balance: { maxOverMean: Math.max(...perGateway) / mean, minOverMean: Math.min(...perGateway) / mean },
  };
}

/** Relay records per message for N gateways (DESIGN.md section 3). */
export function relayPerMessage(n = FLEET.gateways) {
  const remote = (n - 1) / n; // the sender's request lands on a random gateway behind the load balancer
  return {
    targetedOnline: { published: remote, consumed: remote },
    targetedOffline: { published: 0, consumed: 0 }, // presence lookup finds no owner: nothing to relay
    unknownOwnerFallback: { published: 1, consumed: n },
    broadcastSeed: { published: 1, consumed: n },
  };
}

/**
 * Couchbase KV operations, counted from the adapter code (steady state: counter exists, no
 * idempotency or collapse key unless said). Each entry names the calls, for review.
 */
export const storeOps = {
  appendPlain: { ops: 3, calls: 'store.append: mutateIn increment ctr::<t>, get ctr::<t> (epoch), upsert msg::<t>::<seq>' },
  appendIdempotencyKey: { ops: 2, calls: '+ insert idem::<t>::<key> (claim), upsert idem (result)' },
  appendCollapseKey: { ops: 3, calls: '+ get collapse key, insert/replace collapse key, remove the older msg (when one is pending)' },
  routeLookup: { ops: 1, calls: 'directory.lookup: get presence::<t> (skipped when the terminal is on the receiving gateway)' },
  ackPerCall: { ops: 3, calls: 'store.ack: get ctr::<t>, get cursor::<t>, replace cursor (CAS) + 1 remove per acked message' },
  connectClaim: { ops: 3, calls: 'directory.claim: increment presence epoch, get presence, insert/replace presence' },
  connectState: { ops: 2, calls: 'store.state: get ctr, get cursor (+ insert + get for a terminal never seen)' },
  connectPending: { ops: 2, calls: 'store.pending: get ctr, get cursor, + 1 get per pending seq (batched)' },
  disconnectRelease: { ops: 2, calls: 'directory.release: get presence, remove (CAS)' },
  heartbeatRefresh: { ops: 2, calls: 'directory.refresh per session per heartbeat: get presence, replace (CAS)' },
};

export function storeTotals(heartbeatSeconds = 30, messagesPerSecond = 10_000) {
  const perMessageOnline = storeOps.appendPlain.ops + storeOps.routeLookup.ops + storeOps.ackPerCall.ops + 1;
  const perReconnect = storeOps.connectClaim.ops + storeOps.connectState.ops + storeOps.connectPending.ops + storeOps.disconnectRelease.ops;
  const presencePerSec = (FLEET.terminals * storeOps.heartbeatRefresh.ops) / heartbeatSeconds;
  return { perMessageOnline, perMessageOffline: storeOps.appendPlain.ops + storeOps.routeLookup.ops, perReconnectNoPending: perReconnect, perPendingMessageOnReconnect: 1 + 1, presenceRefreshOpsPerSec: presencePerSec, heartbeatSeconds, messagesPerSecond, messageOpsPerSec: perMessageOnline * messagesPerSecond };
}

export interface StormParams {
  lostGateways: number;
  /** Connects one survivor accepts per second (TLS + JWT + claim): a model input. */
  acceptPerSec: number;
  baseMs: number;
  capMs: number;
  connectTimeoutMs: number;
  /** 0: no windows (clients retry with full jitter at once); else the server-assigned spread. */
  windowMs: number;
  seed?: number;
}

/** Deterministic PRNG (mulberry32) so the model's numbers are reproducible. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One survivor's view of the storm: S = lost * (T/N) / (N - lost) terminals dial it.
 * Time steps of 10 ms; FIFO accept queue at `acceptPerSec`; a dial waiting longer than
 * connectTimeoutMs gives up and retries after fullJitter(attempt) (common/backoff.ts shape).
 */
export function simulateStorm(p: StormParams) {
  const { terminals, gateways } = FLEET;
  const survivors = gateways - p.lostGateways;
  const S = Math.round((p.lostGateways * (terminals / gateways)) / survivors);
  const rand = rng(p.seed ?? 42);
  const dt = 10;
  const horizonMs = 900_000;
  const steps = horizonMs / dt;
  const buckets = new Map<number, number[]>();
  const attempt = new Int32Array(S);
  let now = -1; // current step: a retry never lands in a bucket already swept
  const schedule = (i: number, atMs: number) => {
    const b = Math.max(now + 1, Math.floor(atMs / dt));
    if (b >= steps) return;
    let l = buckets.get(b);
    if (!l) buckets.set(b, (l = []));
    l.push(i);
  };
  const jitter = (k: number) => rand() * Math.min(p.capMs, p.baseMs * 2 ** k);
  for (let i = 0; i < S; i++) schedule(i, p.windowMs > 0 ? ((i + rand()) / S) * p.windowMs : jitter(0));
  const queue: { i: number; at: number }[] = [];
  let head = 0;
  let credit = 0;
  let connected = 0;
  let attempts = 0;
  let timeouts = 0;
  const arrivalsPerStep = new Int32Array(steps);
  let t99 = NaN;
  let maxQueue = 0;
  let lastStep = 0;
  for (let s = 0; s < steps && connected < S; s++) {
    const t = s * dt;
    now = s;
    const arriving = buckets.get(s);
    if (arriving) {
      buckets.delete(s);
      for (const i of arriving) queue.push({ i, at: t });
      arrivalsPerStep[s] = arriving.length;
      attempts += arriving.length;
    }
    // Dials that waited past the client's connect timeout give up and back off.
    while (head < queue.length && t - queue[head]!.at > p.connectTimeoutMs) {
      const { i } = queue[head++]!;
      timeouts++;
      attempt[i]!++;
      schedule(i, t + jitter(attempt[i]!));
    }
    credit += (p.acceptPerSec * dt) / 1000;
    while (credit >= 1 && head < queue.length) {
      head++;
      credit--;
      connected++;
    }
    if (head >= queue.length) credit = Math.min(credit, 1);
    maxQueue = Math.max(maxQueue, queue.length - head);
    if (head > 50_000) queue.splice(0, head), (head = 0);
    if (Number.isNaN(t99) && connected >= 0.99 * S) t99 = t;
    lastStep = s;
  }
  let peak = 0;
  let win = 0;
  const per = 1000 / dt;
  for (let s = 0; s <= lastStep; s++) {
    win += arrivalsPerStep[s]! - (s >= per ? arrivalsPerStep[s - per]! : 0);
    peak = Math.max(peak, win);
  }
  return { terminalsPerSurvivor: S, survivors, peakArrivalsPerSecPerSurvivor: peak, peakArrivalsPerSecAllSurvivors: peak * survivors, attemptsPerTerminal: attempts / S, timeouts, maxQueue, secondsTo99Percent: t99 / 1000, allConnected: connected >= S, connected };
}

export function stormCases() {
  const profile = { normal: { baseMs: 1_000, capMs: 30_000, connectTimeoutMs: 10_000 }, aggressive: { baseMs: 250, capMs: 5_000, connectTimeoutMs: 5_000 } };
  const cases: { name: string; p: StormParams }[] = [];
  for (const lost of [1, 10]) for (const [prof, b] of Object.entries(profile)) for (const windowMs of [0, 60_000]) {
    cases.push({ name: `lose ${lost} gw, ${prof} profile, ${windowMs ? `window ${windowMs / 1000} s` : 'no window'}`, p: { lostGateways: lost, acceptPerSec: 1_000, windowMs, ...b } });
  }
  return cases.map((c) => ({ ...c, r: simulateStorm(c.p) }));
}

export async function runScaleModel({ sampleTerminals, log = () => undefined }: { sampleTerminals: number; log?: (l: string) => void }): Promise<ScenarioBody> {
  const t0 = performance.now();
  const rv = rendezvousMoves(sampleTerminals);
  log(`scale-model: rendezvous over ${sampleTerminals} sampled ids in ${Math.round(performance.now() - t0)} ms`);
  const relay = relayPerMessage();
  const store = storeTotals();
  const storms = stormCases();
  const pct = (x: number) => Math.round(x * 10_000) / 100;
  const rows: ResultRow[] = [
    { name: 'rendezvous: add 1 gateway (100 -> 101)', role: 'pcm', metrics: { movedPercent: pct(rv.add1.moved), idealPercent: pct(rv.add1.ideal), terminalsMovedAt10M: Math.round(rv.add1.moved * FLEET.terminals) } },
    { name: 'rendezvous: add 10 gateways (100 -> 110)', role: 'pcm', metrics: { movedPercent: pct(rv.add10.moved), idealPercent: pct(rv.add10.ideal), terminalsMovedAt10M: Math.round(rv.add10.moved * FLEET.terminals) } },
    { name: 'rendezvous: lose 1 gateway (100 -> 99)', role: 'pcm', metrics: { movedPercent: pct(rv.remove1.moved), idealPercent: pct(rv.remove1.ideal), terminalsMovedAt10M: Math.round(rv.remove1.moved * FLEET.terminals) }, note: `${rv.remove1.movedBetweenUnchangedGateways} of ${rv.remove1.checked} checked moved between unchanged gateways` },
    { name: 'modulo hash: add 1 gateway (100 -> 101)', role: 'baseline', metrics: { movedPercent: pct(rv.modulo.moved), idealPercent: pct(rv.modulo.ideal), terminalsMovedAt10M: Math.round(rv.modulo.moved * FLEET.terminals) }, note: 'naive hash(id) mod N' },
    ...storms.map((s) => ({
      name: `storm: ${s.name}`,
      role: (s.p.windowMs ? 'pcm' : 'baseline') as 'pcm' | 'baseline',
      metrics: { peakArrivalsPerSecPerSurvivor: s.r.peakArrivalsPerSecPerSurvivor, peakArrivalsPerSecAllSurvivors: s.r.peakArrivalsPerSecAllSurvivors, attemptsPerTerminal: Math.round(s.r.attemptsPerTerminal * 100) / 100, secondsTo99Percent: s.r.secondsTo99Percent, terminalsPerSurvivor: s.r.terminalsPerSurvivor },
      note: s.r.allConnected ? '' : `only ${s.r.connected} connected within the 900 s horizon`,
    })),
  ];
  return {
    params: { ...FLEET, sampledTerminalIds: sampleTerminals, extrapolated: 'moved fractions are measured on the sample and scaled to 10M', stormAcceptPerSecPerGateway: 1_000, stormStepMs: 10 },
    rows,
    chartMetric: 'movedPercent',
    ratios: [
      { name: 'rendezvous add-1 moved / ideal 1/(N+1)', value: Math.round((rv.add1.moved / rv.add1.ideal) * 1000) / 1000 },
      { name: 'rendezvous lose-1 moved / ideal 1/N', value: Math.round((rv.remove1.moved / rv.remove1.ideal) * 1000) / 1000 },
      { name: 'modulo add-1 moved / ideal', value: Math.round((rv.modulo.moved / rv.modulo.ideal) * 1000) / 1000 },
      { name: 'gateway load max / mean (100 gateways)', value: Math.round(rv.balance.maxOverMean * 1000) / 1000 },
    ],
    notes: [
      `Relay records per message at ${FLEET.gateways} gateways: targeted ${relay.targetedOnline.published.toFixed(2)} published / ${relay.targetedOnline.consumed.toFixed(2)} consumed (online terminal), 0 (offline); unknown-owner fallback and the seed's broadcast: 1 published / ${relay.broadcastSeed.consumed} consumed.`,
      `Couchbase KV ops (read from the adapter code): ${store.perMessageOnline} per message to an online terminal (append 3, presence lookup 1, ack 3 + 1 remove), ${store.perMessageOffline} per message to an offline one, ${store.perReconnectNoPending} per reconnect with nothing pending (+2 per pending message: read and remove), presence refresh ${Math.round(store.presenceRefreshOpsPerSec).toLocaleString('en-US')} ops/s for 10M terminals at a ${store.heartbeatSeconds} s heartbeat.`,
      'Storm: one survivor simulated (rendezvous spreads a lost gateway\'s terminals evenly); 1,000 accepts/s per gateway is a model input (compare `connections` scenario connect rates); dials waiting past the connect timeout retry with full-jitter backoff.',
    ],
    model: { rendezvous: rv, relay, storeOps, storeTotals: store, storms: storms.map((s) => ({ name: s.name, params: s.p, result: s.r })) },
  } as ScenarioBody;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--sample');
  const sample = i > 0 ? Number(process.argv[i + 1]) : 1_000_000;
  const body = await runScaleModel({ sampleTerminals: sample, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(JSON.stringify(body, null, 2) + '\n');
}
