/**
 * Offline drain rate from SQLite (issue 10 target: >= 20,000 msg/s): K terminals each with M
 * pending messages in the gateway's SQLite store connect at once; rate = K*M / time from the
 * first dial to the last message received (terminals ack every frame, window 64).
 * Baseline: a bare `ws` server pushing the same number of frames to the same number of clients.
 * The store is filled before the gateway starts, straight through SqliteMessageStore.append.
 */
import type { ResultRow } from '../lib/result.js';
import path from 'node:path';
import { copyFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { SqliteMessageStore } from '../../gateway/adapters/sqlite/sqlite-store.js';
import { check } from '../lib/result.js';
import { ratio } from '../lib/stats.js';
import { connectLoaders, connectTerminals, spawnLoaders, tempDataDir, waitDelivered, writerNote, type Scenario } from '../lib/scenario.js';
import { BENCH_PAYLOAD } from '../lib/secrets.js';

/**
 * Stores `perTerminal` pending messages for each of `terminals` terminals (`dr-0`...) in
 * `<dataDir>/messages.db`, interleaved in arrival order as offline sends would be, straight
 * through SqliteMessageStore (NORMAL: the fill is not what is measured).
 */
export async function fillDrainStore(dataDir: string, terminals: number, perTerminal: number): Promise<void> {
  const store = new SqliteMessageStore({ file: path.join(dataDir, 'messages.db'), synchronous: 'NORMAL' });
  const payload = JSON.stringify(BENCH_PAYLOAD);
  const now = Date.now();
  const fill: Promise<unknown>[] = [];
  for (let i = 0; i < perTerminal; i++) for (let t = 0; t < terminals; t++) fill.push(store.append({ terminalId: `dr-${t}`, payload, ttlSeconds: 3600, messageId: randomUUID() }, now));
  await Promise.all(fill);
  await store.close();
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
    const timeoutMs = ctx.quick ? 20_000 : 120_000;
    const dataDir = tempDataDir('drain');
    const dataDirNormal = tempDataDir('drain-normal');
    await fillDrainStore(dataDir, terminals, perTerminal);
    ctx.log(`drain: ${total} messages stored for ${terminals} terminals`);
    const rows: ResultRow[] = [];

    // The same filled file drained twice: FULL (default) first, then a copy under NORMAL.
    copyFileSync(path.join(dataDir, 'messages.db'), path.join(dataDirNormal, 'messages.db'));
    const drainOnce = async (name: string, dir: string, synchronous: 'FULL' | 'NORMAL', note: string) => {
      const gw = await ctx.spawn(`gateway-${synchronous}`, 'servers/gateway.ts', { store: 'sqlite', sqliteSynchronous: synchronous, dataDir: dir });
      const loaders = await spawnLoaders(ctx, 'drain', 'pcm-ws', String(gw.ready.websocketUrl), 'dr-', terminals, { concurrency: terminals });
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
    const t1 = performance.now();
    await bare.call('blast', { count: total, payload: BENCH_PAYLOAD });
    const raw = await waitDelivered(rawLoad.loaders, total, t1, timeoutMs);
    const rawRate = raw.received / (raw.ms / 1000);
    rows.push({ name: 'raw ws one-way', role: 'baseline' as const, metrics: { drainedPerSec: Math.round(rawRate), drained: raw.received, terminals, elapsedMs: Math.round(raw.ms) }, note: 'already connected, no store' });
    return {
      params: { terminals, perTerminal, total },
      rows,
      chartMetric: 'drainedPerSec',
      ratios: [check('pcm drain msg/s (absolute, target 20,000)', Math.round(rate), '>=', 20_000), { name: 'pcm drain / raw ws one-way', value: ratio(rate, rawRate) }],
      notes: ['The PCM time includes connecting the terminals; the baseline starts with them connected.'],
    };
  },
};
