/**
 * Gateway CPU per terminal connect: starts a gateway (as `pcm bench memory` does), connects
 * --terminals new WebSocket terminals from two loader processes (64 dials in flight each),
 * and reads /proc/<pid>/task/<tid>/stat of every gateway thread around the connects. Prints the
 * connect rate and the gateway's CPU microseconds per connect (all threads: main, SQLite
 * writer, V8 helpers). Each connect verifies a JWT, claims presence, reads the queue state and
 * sends `welcome`. Bounded: one connect phase of at most 120 s. Linux only.
 *
 *   npx tsx bench/connect-cpu.ts [--store sqlite|memory] [--terminals 6000]
 */
import { threadTimes } from './lib/thread-stats.js';
import { killAll } from './lib/proc.js';
import { connectTerminals, tempDataDir, toolContext } from './lib/scenario.js';
import { toolArgs } from './lib/tool-args.js';

const HELP = 'usage: npx tsx bench/connect-cpu.ts [--store sqlite|memory] [--terminals 6000]';
const args = toolArgs(HELP);
const store = args.choice('store', ['sqlite', 'memory'] as const, 'sqlite');
const terminals = args.count('terminals', 6_000, 1, 18_000);

const { ctx, children } = toolContext();
try {
  const gw = await ctx.spawn('gateway', 'servers/gateway.ts', { store, dataDir: tempDataDir('connect-cpu') });
  const before = threadTimes(gw.proc.pid!);
  const load = await connectTerminals(ctx, 'ws', 'pcm-ws', String(gw.ready.websocketUrl), 'cc-', terminals, { budgetMs: 120_000 });
  const after = threadTimes(gw.proc.pid!);
  let cpu = 0;
  for (const [tid, [c]] of after) cpu += c - (before.get(tid)?.[0] ?? 0);
  process.stdout.write(
    `${store} store: ${load.connected}/${terminals} connected at ${Math.round(load.perSec)}/s; gateway CPU ${((cpu * 1e6) / Math.max(1, load.connected)).toFixed(0)} us per connect\n`,
  );
} finally {
  await killAll(children);
}
