/**
 * Per-thread CPU of the `throughput` scenario's delivery path, per delivered message: what a CPU
 * profile cannot show on two cores (time a thread waited for a CPU; the V8 helper threads that
 * run the garbage collector), and optionally what the gateway allocates per message.
 *
 *   npx tsx bench/delivery-cpu.ts [fanout|send] [--store sqlite|memory] [--messages 30000]
 *                                 [--warmup 10000] [--alloc <file.heapprofile>]
 *                                 [--writer auto|inline|thread]
 *
 * Starts a gateway (as `pcm bench throughput`), 1,000 WebSocket terminals in two loader
 * processes (they ack every message) and the HTTP sender; delivers --warmup messages unmeasured,
 * then reads /proc/<pid>/task/<tid>/stat and .../schedstat of every thread of every process
 * around the measured --messages. Prints msg/s and per thread: busy share, run-queue wait share
 * and CPU microseconds per delivered message. With --alloc, the measured phase is also recorded
 * as a sampling allocation profile (collected objects included); summarize it with
 * `npx tsx bench/alloc-top.ts <file> <messages>`. Bounded: two sends of at most 120 s. Linux only.
 */
import { threadName, threadTimes as threads } from './lib/thread-stats.js';
import { toolArgs } from './lib/tool-args.js';
import { killAll, type Child } from './lib/proc.js';
import { connectTerminals, tempDataDir, toolContext, waitDelivered } from './lib/scenario.js';

const HELP = 'usage: npx tsx bench/delivery-cpu.ts [fanout|send] [--store sqlite|memory] [--messages 30000] [--warmup 10000] [--alloc <file>] [--writer auto|inline|thread]';
const args = toolArgs(HELP);
const kind = args.mode(['fanout', 'send'] as const, 'fanout');
const store = args.choice('store', ['sqlite', 'memory'] as const, 'sqlite');
const messages = args.count('messages', 30_000);
const warmup = args.count('warmup', 10_000);
const writer = args.opt('writer') === undefined ? undefined : args.choice('writer', ['auto', 'inline', 'thread'] as const, 'auto');
const allocFile = args.opt('alloc');
const TERMINALS = 1_000;
const FANOUT = 100;
const TIMEOUT_MS = 120_000;


const { ctx, children } = toolContext();
const run = (n: number) =>
  kind === 'fanout'
    ? { kind: 'fanout', prefix: 'tp-', terminals: TERMINALS, count: Math.ceil(n / FANOUT), durationMs: TIMEOUT_MS, inflight: 8, fanout: FANOUT }
    : { kind: 'send', prefix: 'tp-', terminals: TERMINALS, count: n, durationMs: TIMEOUT_MS, inflight: 64 };

try {
  const gw = await ctx.spawn('gateway', 'servers/gateway.ts', { store, dataDir: tempDataDir('delivery-cpu'), ...(writer ? { sqliteWriter: writer } : {}) });
  const load = await connectTerminals(ctx, 'ws', 'pcm-ws', String(gw.ready.websocketUrl), 'tp-', TERMINALS, { perLoader: TERMINALS / 2 });
  const sender = await ctx.spawn('sender', 'load/http-load.ts', { url: gw.ready.httpUrl, connections: 64, pipelining: 1 });
  if (warmup > 0) {
    const t = performance.now();
    await sender.call('run', run(warmup), TIMEOUT_MS + 30_000);
    await waitDelivered(load.loaders, warmup, t, TIMEOUT_MS);
    await Promise.all(load.loaders.map((l) => l.call('reset')));
  }
  const procs: [string, Child][] = [['gateway', gw], ['sender', sender], ...load.loaders.map((l, i): [string, Child] => [`loader${i}`, l])];
  if (allocFile) await gw.call('allocStart', {});
  const before = procs.map(([, c]) => threads(c.proc.pid!));
  const t0 = performance.now();
  await sender.call('run', run(messages), TIMEOUT_MS + 30_000);
  const got = await waitDelivered(load.loaders, messages, t0, TIMEOUT_MS);
  const after = procs.map(([, c]) => threads(c.proc.pid!));
  if (allocFile) await gw.call('allocStop', { file: allocFile });
  const secs = got.ms / 1000;
  process.stdout.write(`${kind}, ${store} store: ${Math.round(got.received / secs)} msg/s delivered (${got.received}/${messages} in ${secs.toFixed(2)} s, after ${warmup} warm-up)\n`);
  procs.forEach(([name], k) => {
    let cpu = 0;
    for (const [tid, [c, runS, waitS]] of after[k]!) {
      const [c0, run0, wait0] = before[k]!.get(tid) ?? [0, 0, 0];
      cpu += c - c0;
      const busy = (runS - run0) / secs;
      if (busy >= 0.02) {
        process.stdout.write(`  ${name} thread ${tid} (${threadName(procs[k]![1].proc.pid!, tid)}): busy ${(busy * 100).toFixed(0)} %, waiting for a CPU ${(((waitS - wait0) / secs) * 100).toFixed(0)} %, ${(((runS - run0) * 1e6) / got.received).toFixed(1)} us per message\n`);
      }
    }
    process.stdout.write(`  ${name}: ${((cpu / secs) * 100).toFixed(0)} % of a core, ${((cpu * 1e6) / got.received).toFixed(1)} us of CPU per message\n`);
  });
  if (allocFile) process.stdout.write(`allocation profile: ${allocFile} (npx tsx bench/alloc-top.ts ${allocFile} ${got.received})\n`);
} finally {
  await killAll(children);
}
