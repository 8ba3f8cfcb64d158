/**
 * Per-thread CPU of the `drain` scenario, per drained message: a steadier A/B measure than the
 * drain's rate, which swings by a fifth between runs on a VM whose speed drifts (CPU time per
 * message moves less with the host's other load).
 *
 *   npx tsx bench/drain-cpu.ts [--terminals 100] [--messages 500] [--writer auto|inline|thread]
 *                              [--synchronous FULL|NORMAL]
 *
 * Fills a gateway's SQLite file with --terminals x --messages pending messages (as `pcm bench
 * drain`: straight through SqliteMessageStore, interleaved in arrival order), starts the gateway
 * on it and the terminal loaders (they ack every message), then reads /proc/<pid>/task/<tid>/stat
 * and .../schedstat of every thread of every process around the drain: from the first dial to
 * the last message. Prints msg/s and per thread: busy share, run-queue wait share and CPU
 * microseconds per drained message. Bounded: one drain of at most 120 s. Linux only.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { SqliteMessageStore } from '../gateway/adapters/sqlite/sqlite-store.js';
import { threadName, threadTimes as threads } from './lib/thread-stats.js';
import { toolArgs } from './lib/tool-args.js';
import { killAll, type Child } from './lib/proc.js';
import { connectLoaders, spawnLoaders, tempDataDir, toolContext, waitDelivered } from './lib/scenario.js';
import { BENCH_PAYLOAD } from './lib/secrets.js';

const HELP = 'usage: npx tsx bench/drain-cpu.ts [--terminals 100] [--messages 500] [--writer auto|inline|thread] [--synchronous FULL|NORMAL]';
const args = toolArgs(HELP);
const terminals = args.count('terminals', 100);
const perTerminal = args.count('messages', 500);
const writer = args.opt('writer') === undefined ? undefined : args.choice('writer', ['auto', 'inline', 'thread'] as const, 'auto');
const synchronous = args.choice('synchronous', ['FULL', 'NORMAL'] as const, 'FULL');
const total = terminals * perTerminal;
const TIMEOUT_MS = 120_000;

const { ctx, children } = toolContext();
try {
  const dataDir = tempDataDir('drain-cpu');
  const store = new SqliteMessageStore({ file: path.join(dataDir, 'messages.db'), synchronous: 'NORMAL' });
  const payload = JSON.stringify(BENCH_PAYLOAD);
  const now = Date.now();
  const fill: Promise<unknown>[] = [];
  for (let i = 0; i < perTerminal; i++) for (let t = 0; t < terminals; t++) fill.push(store.append({ terminalId: `dr-${t}`, payload, ttlSeconds: 3600, messageId: randomUUID() }, now));
  await Promise.all(fill);
  await store.close();

  const gw = await ctx.spawn('gateway', 'servers/gateway.ts', { store: 'sqlite', sqliteSynchronous: synchronous, dataDir, ...(writer ? { sqliteWriter: writer } : {}) });
  const loaders = await spawnLoaders(ctx, 'drain', 'pcm-ws', String(gw.ready.websocketUrl), 'dr-', terminals, { concurrency: terminals });
  const procs: [string, Child][] = [['gateway', gw], ...loaders.map((l, i): [string, Child] => [`loader${i}`, l])];
  const before = procs.map(([, c]) => threads(c.proc.pid!));
  const t0 = performance.now();
  await connectLoaders(loaders);
  const got = await waitDelivered(loaders, total, t0, TIMEOUT_MS);
  const after = procs.map(([, c]) => threads(c.proc.pid!));
  const secs = got.ms / 1000;
  process.stdout.write(`drain, SQLite ${synchronous}, writer ${String(gw.ready.sqliteWriter)}: ${Math.round(got.received / secs)} msg/s (${got.received}/${total} in ${secs.toFixed(2)} s)\n`);
  procs.forEach(([name, child], k) => {
    let cpu = 0;
    for (const [tid, [c, runS, waitS]] of after[k]!) {
      const [c0, run0, wait0] = before[k]!.get(tid) ?? [0, 0, 0];
      cpu += c - c0;
      const busy = (runS - run0) / secs;
      if (busy >= 0.02) {
        process.stdout.write(`  ${name} thread ${tid} (${threadName(child.proc.pid!, tid)}): busy ${(busy * 100).toFixed(0)} %, waiting for a CPU ${(((waitS - wait0) / secs) * 100).toFixed(0)} %, ${(((runS - run0) * 1e6) / got.received).toFixed(1)} us per message\n`);
      }
    }
    process.stdout.write(`  ${name}: ${((cpu / secs) * 100).toFixed(0)} % of a core, ${((cpu * 1e6) / got.received).toFixed(1)} us of CPU per message\n`);
  });
  if (got.received < total) process.exitCode = 1;
} finally {
  await killAll(children);
}
