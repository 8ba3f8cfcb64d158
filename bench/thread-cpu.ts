/**
 * Per-thread CPU of the `http` scenario's server and loader: what a CPU profile cannot show on
 * two cores (time a thread waited for a CPU, CPU microseconds per request).
 *
 *   npx tsx bench/thread-cpu.ts [full|normal|memory|bare] [--duration 8000] [--inflight 64]
 *
 * Starts the same server child as `pcm bench http` (a PCM gateway with the SQLite store FULL or
 * NORMAL, the memory store, or the bare fastify route) and the same HTTP loader, warms up for
 * 1 s, then reads /proc/<pid>/task/<tid>/stat (utime + stime) and .../schedstat (run time,
 * run-queue wait) of every thread of both processes before and after the measured phase.
 * Prints sends/s, latency, and per thread: busy share, run-queue wait share, and the process's
 * CPU microseconds per request. Bounded: one phase of --duration ms. Linux only.
 */
import { threadTimes as threads } from './lib/thread-stats.js';
import { toolArgs } from './lib/tool-args.js';
import { spawnChild } from './lib/proc.js';
import { tempDataDir } from './lib/scenario.js';

const HELP = `usage: npx tsx bench/thread-cpu.ts [full|normal|memory|bare] [--duration 8000] [--inflight 64]`;
const cli = toolArgs(HELP);
const mode = cli.mode(['full', 'normal', 'memory', 'bare'] as const, 'full');
const durationMs = cli.count('duration', 8_000, 1);
const inflight = cli.count('inflight', 64, 1);

const server = mode === 'bare' ? 'servers/bare-fastify.ts' : 'servers/gateway.ts';
const args =
  mode === 'bare' ? {} : mode === 'memory' ? { store: 'memory', dataDir: tempDataDir('thread-cpu') } : { store: 'sqlite', sqliteSynchronous: mode === 'normal' ? 'NORMAL' : 'FULL', dataDir: tempDataDir('thread-cpu') };
const s = await spawnChild('server', server, args);
const l = await spawnChild('loader', 'load/http-load.ts', { url: s.ready.httpUrl, connections: inflight, pipelining: 1 });
try {
  await l.call('run', { kind: 'send', prefix: 'warm-', terminals: 100, durationMs: 1_000, inflight });
  const before = [threads(s.proc.pid!), threads(l.proc.pid!)];
  const r = await l.call<{ perSec: number; latency: { p50: number; p99: number } }>('run', { kind: 'send', prefix: 'off-', terminals: 1_000, durationMs, inflight }, durationMs + 30_000);
  const after = [threads(s.proc.pid!), threads(l.proc.pid!)];
  const secs = durationMs / 1000;
  process.stdout.write(`${mode}: ${Math.round(r.perSec)} sends/s, p50 ${r.latency.p50.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms, ${inflight} in flight\n`);
  ['server', 'loader'].forEach((name, k) => {
    let cpu = 0;
    for (const [tid, [c, run, wait]] of after[k]!) {
      const [c0, run0, wait0] = before[k]!.get(tid) ?? [0, 0, 0];
      cpu += c - c0;
      const busy = (run - run0) / secs;
      if (busy >= 0.02) process.stdout.write(`  ${name} thread ${tid}: busy ${(busy * 100).toFixed(0)} %, waiting for a CPU ${(((wait - wait0) / secs) * 100).toFixed(0)} %\n`);
    }
    process.stdout.write(`  ${name}: ${((cpu / secs) * 100).toFixed(0)} % of a core, ${((cpu * 1e6) / (r.perSec * secs)).toFixed(0)} us of CPU per request\n`);
  });
} finally {
  await l.kill();
  await s.kill();
}
