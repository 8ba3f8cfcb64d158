/**
 * Offline drain rate from SQLite (issue 10 target: >= 20,000 msg/s): K terminals each with M
 * pending messages in the gateway's SQLite store connect at once; rate = K*M / time from the
 * first dial to the last message received (terminals ack every frame, window 64).
 * Baseline: a bare `ws` server pushing the same number of frames to the same number of clients.
 * The store is filled before the gateway starts, straight through SqliteMessageStore.append.
 *
 * Warm-up (as `throughput`): the same file also holds M/5 messages for each of K other terminals
 * (`dw-`), interleaved with the measured ones; they are drained first and not measured, so the
 * measured drain runs on a gateway whose JIT and heap have seen the path, as a long-running
 * gateway taking a reconnect wave has. The baseline pushes as many frames first, not measured.
 */
import type { ResultRow } from '../lib/result.js';
import path from 'node:path';
import { copyFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { SqliteMessageStore } from '../../gateway/adapters/sqlite/sqlite-store.js';
import { check } from '../lib/result.js';
import { ratio } from '../lib/stats.js';
import { connectLoaders, connectTerminals, settleWarmup, spawnLoaders, tempDataDir, waitDelivered, writerNote, type Scenario, type ScenarioContext } from '../lib/scenario.js';
import { BENCH_PAYLOAD } from '../lib/secrets.js';

/** Terminal ids of the measured drain and of the warm-up drain before it. */
export const DRAIN_PREFIX = 'dr-';
export const WARMUP_PREFIX = 'dw-';

/**
 * Stores `perTerminal` pending messages for each of `terminals` terminals (`dr-0`...) and
 * `warmupPerTerminal` for as many warm-up terminals (`dw-0`...) in `<dataDir>/messages.db`,
 * interleaved in arrival order as offline sends would be, straight through SqliteMessageStore
 * (NORMAL: the fill is not what is measured).
 */
export async function fillDrainStore(dataDir: string, terminals: number, perTerminal: number, warmupPerTerminal = 0): Promise<void> {
  const store = new SqliteMessageStore({ file: path.join(dataDir, 'messages.db'), synchronous: 'NORMAL' });
  const payload = JSON.stringify(BENCH_PAYLOAD);
  const now = Date.now();
  const fill: Promise<unknown>[] = [];
  const add = (terminalId: string) => fill.push(store.append({ terminalId, payload, ttlSeconds: 3600, messageId: randomUUID() }, now));
  for (let i = 0; i < Math.max(perTerminal, warmupPerTerminal); i++) {
    for (let t = 0; t < terminals; t++) {
      if (i < perTerminal) add(`${DRAIN_PREFIX}${t}`);
      if (i < warmupPerTerminal) add(`${WARMUP_PREFIX}${t}`);
    }
  }
  await Promise.all(fill);
  await store.close();
}

/**
 * Drains the warm-up terminals (`dw-0`...) through `url` and waits until their `count` messages
 * arrived; the loaders are killed, so those terminals disconnect before the measured drain.
 */
export async function warmUpDrain(ctx: ScenarioContext, url: string, terminals: number, count: number, timeoutMs: number): Promise<void> {
  if (count <= 0) return;
  const loaders = await spawnLoaders(ctx, 'drain-warmup', 'pcm-ws', url, WARMUP_PREFIX, terminals, { concurrency: terminals });
  try {
    const t0 = performance.now();
    await connectLoaders(loaders);
    const got = await waitDelivered(loaders, count, t0, timeoutMs);
    if (got.received < count) throw new Error(`drain warm-up: ${got.received} of ${count} messages arrived within ${timeoutMs} ms`);
  } finally {
    for (const l of loaders) await l.kill();
  }
}

export const drain: Scenario = {
  name: 'drain',
  title: 'Offline drain from SQLite',
  summary: 'messages/s drained to reconnecting terminals from the SQLite store vs raw ws one-way',
  // one drain lasts about 3 s and swung by a fifth between runs on a VM whose speed drifts: its
  // verdict, an absolute rate near the target, is the median of rounds (bench/lib/rounds.ts)
  rounds: 3,
  async run(ctx) {
    const terminals = ctx.quick ? 10 : 100;
    const perTerminal = ctx.quick ? 200 : 500;
    const total = terminals * perTerminal;
    const warmupPerTerminal = perTerminal / 5;
    const warmup = terminals * warmupPerTerminal;
    const timeoutMs = ctx.quick ? 20_000 : 120_000;
    const dataDir = tempDataDir('drain');
    const dataDirNormal = tempDataDir('drain-normal');
    await fillDrainStore(dataDir, terminals, perTerminal, warmupPerTerminal);
    ctx.log(`drain: ${total} messages stored for ${terminals} terminals, ${warmup} for ${terminals} warm-up terminals`);
    const rows: ResultRow[] = [];

    // The same filled file drained twice: FULL (default) first, then a copy under NORMAL.
    copyFileSync(path.join(dataDir, 'messages.db'), path.join(dataDirNormal, 'messages.db'));
    const drainOnce = async (name: string, dir: string, synchronous: 'FULL' | 'NORMAL', note: string) => {
      const gw = await ctx.spawn(`gateway-${synchronous}`, 'servers/gateway.ts', { store: 'sqlite', sqliteSynchronous: synchronous, dataDir: dir });
      await warmUpDrain(ctx, String(gw.ready.websocketUrl), terminals, warmup, timeoutMs);
      const loaders = await spawnLoaders(ctx, 'drain', 'pcm-ws', String(gw.ready.websocketUrl), DRAIN_PREFIX, terminals, { concurrency: terminals });
      const t0 = performance.now();
      const load = await connectLoaders(loaders);
      const got = await waitDelivered(load.loaders, total, t0, timeoutMs);
      const rate = got.received / (got.ms / 1000);
      ctx.log(`drain ${name}: ${got.received}/${total} in ${Math.round(got.ms)} ms = ${Math.round(rate)} msg/s`);
      rows.push({ name, role: 'pcm' as const, metrics: { drainedPerSec: Math.round(rate), drained: got.received, terminals, elapsedMs: Math.round(got.ms) }, note: `${note}${writerNote(gw.ready)}` });
      for (const l of load.loaders) await l.kill();
      await gw.kill();
      return rate;
    };
    const rate = await drainOnce('pcm ws drain, sqlite FULL', dataDir, 'FULL', 'default; dial + welcome + pending reads + an ack per message');
    await drainOnce('pcm ws drain, sqlite NORMAL', dataDirNormal, 'NORMAL', 'same file, no fsync per commit');

    const bare = await ctx.spawn('bare-ws', 'servers/bare-ws.ts');
    const rawLoad = await connectTerminals(ctx, 'raw', 'raw-ws', String(bare.ready.websocketUrl), 'r-', terminals, { concurrency: terminals });
    await bare.call('blast', { count: warmup, payload: BENCH_PAYLOAD });
    await settleWarmup(rawLoad.loaders, warmup, performance.now(), timeoutMs);
    const t1 = performance.now();
    await bare.call('blast', { count: total, payload: BENCH_PAYLOAD });
    const raw = await waitDelivered(rawLoad.loaders, total, t1, timeoutMs);
    const rawRate = raw.received / (raw.ms / 1000);
    rows.push({ name: 'raw ws one-way', role: 'baseline' as const, metrics: { drainedPerSec: Math.round(rawRate), drained: raw.received, terminals, elapsedMs: Math.round(raw.ms) }, note: 'already connected, no store' });
    return {
      params: { terminals, perTerminal, total, warmupMessages: warmup },
      rows,
      chartMetric: 'drainedPerSec',
      ratios: [check('pcm drain msg/s (absolute, target 20,000)', Math.round(rate), '>=', 20_000), { name: 'pcm drain / raw ws one-way', value: ratio(rate, rawRate) }],
      notes: [
        'The PCM time includes connecting the terminals; the baseline starts with them connected.',
        `Every row first drains (or pushes) ${warmup} messages to other terminals, not measured (JIT and heap warm-up); PCM's warm-up terminals disconnect before the measured drain.`,
      ],
    };
  },
};
