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
import { reportThreads, snapshot } from './lib/thread-stats.js';
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
  const before = snapshot(procs);
  const t0 = performance.now();
  await sender.call('run', run(messages), TIMEOUT_MS + 30_000);
  const got = await waitDelivered(load.loaders, messages, t0, TIMEOUT_MS);
  const after = snapshot(procs);
  if (allocFile) await gw.call('allocStop', { file: allocFile });
  const secs = got.ms / 1000;
  process.stdout.write(`${kind}, ${store} store: ${Math.round(got.received / secs)} msg/s delivered (${got.received}/${messages} in ${secs.toFixed(2)} s, after ${warmup} warm-up)\n`);
  reportThreads(procs, before, after, secs, got.received);
  if (allocFile) process.stdout.write(`allocation profile: ${allocFile} (npx tsx bench/alloc-top.ts ${allocFile} ${got.received})\n`);
} finally {
  await killAll(children);
}
