/**
 * Per-thread CPU of the `drain` scenario, per drained message: a steadier A/B measure than the
 * drain's rate, which swings by a fifth between runs on a VM whose speed drifts (CPU time per
 * message moves less with the host's other load).
 *
 *   npx tsx bench/drain-cpu.ts [--terminals 100] [--messages 500] [--warmup 100] [--writer auto|inline|thread]
 *                              [--synchronous FULL|NORMAL]
 *
 * Fills a gateway's SQLite file with --terminals x --messages pending messages (as `pcm bench
 * drain`: straight through SqliteMessageStore, interleaved in arrival order) and --warmup per
 * terminal for as many warm-up terminals, starts the gateway on it, drains the warm-up terminals
 * (not measured: JIT and heap warm-up, as the scenario), then starts the terminal loaders (they
 * ack every message) and reads /proc/<pid>/task/<tid>/stat
 * and .../schedstat of every thread of every process around the drain: from the first dial to
 * the last message. Prints msg/s and per thread: busy share, run-queue wait share and CPU
 * microseconds per drained message. Bounded: one drain of at most 120 s. Linux only.
 */
import { reportThreads, snapshot } from './lib/thread-stats.js';
import { toolArgs } from './lib/tool-args.js';
import { killAll, type Child } from './lib/proc.js';
import { connectLoaders, spawnLoaders, tempDataDir, toolContext, waitDelivered } from './lib/scenario.js';
import { DRAIN_PREFIX, fillDrainStore, warmUpDrain } from './scenarios/drain.js';

const HELP = 'usage: npx tsx bench/drain-cpu.ts [--terminals 100] [--messages 500] [--warmup <messages/5>] [--writer auto|inline|thread] [--synchronous FULL|NORMAL]\n  --warmup: messages per warm-up terminal drained first, not measured (0: a cold gateway)';
const args = toolArgs(HELP);
const terminals = args.count('terminals', 100);
const perTerminal = args.count('messages', 500);
const warmupPerTerminal = args.count('warmup', Math.floor(perTerminal / 5));
const writer = args.opt('writer') === undefined ? undefined : args.choice('writer', ['auto', 'inline', 'thread'] as const, 'auto');
const synchronous = args.choice('synchronous', ['FULL', 'NORMAL'] as const, 'FULL');
const total = terminals * perTerminal;
const TIMEOUT_MS = 120_000;

const { ctx, children } = toolContext();
try {
  const dataDir = tempDataDir('drain-cpu');
  await fillDrainStore(dataDir, terminals, perTerminal, warmupPerTerminal);

  const gw = await ctx.spawn('gateway', 'servers/gateway.ts', { store: 'sqlite', sqliteSynchronous: synchronous, dataDir, ...(writer ? { sqliteWriter: writer } : {}) });
  await warmUpDrain(ctx, String(gw.ready.websocketUrl), terminals, terminals * warmupPerTerminal, TIMEOUT_MS);
  const loaders = await spawnLoaders(ctx, 'drain', 'pcm-ws', String(gw.ready.websocketUrl), DRAIN_PREFIX, terminals, { concurrency: terminals });
  const procs: [string, Child][] = [['gateway', gw], ...loaders.map((l, i): [string, Child] => [`loader${i}`, l])];
  const before = snapshot(procs);
  const t0 = performance.now();
  await connectLoaders(loaders);
  const got = await waitDelivered(loaders, total, t0, TIMEOUT_MS);
  const after = snapshot(procs);
  const secs = got.ms / 1000;
  process.stdout.write(`drain, SQLite ${synchronous}, writer ${String(gw.ready.sqliteWriter)}: ${Math.round(got.received / secs)} msg/s (${got.received}/${total} in ${secs.toFixed(2)} s)\n`);
  reportThreads(procs, before, after, secs, got.received);
  if (got.received < total) process.exitCode = 1;
} finally {
  await killAll(children);
}
