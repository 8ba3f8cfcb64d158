/**
 * HTTP sends per second (issue 2 "Numbers"): POST /v1/terminals/{id}/messages on a PCM gateway
 * (auth, validation, rate-limit hook, durable append) vs the same route on a bare fastify app,
 * same load generator (undici, keep-alive, pipelining) in its own process, same run.
 */
import type { ResultRow } from '../lib/result.js';
import { check } from '../lib/result.js';
import { ratio } from '../lib/stats.js';
import { tempDataDir, writerNote, type Scenario } from '../lib/scenario.js';

export const http: Scenario = {
  name: 'http',
  title: 'HTTP sends per second',
  summary: 'POST /v1/terminals/{id}/messages on PCM (sqlite FULL, NORMAL, memory) vs a bare fastify route',
  // verdicts near a target on a VM whose speed drifts: median of rounds (bench/lib/rounds.ts)
  rounds: 3,
  async run(ctx) {
    const durationMs = ctx.quick ? 2_000 : 10_000;
    const load = { connections: 64, pipelining: 1 }; // 64 requests really in flight: node serves pipelined requests on one connection one at a time
    const inflight = 64;
    const rows: ResultRow[] = [];
    const measure = async (name: string, role: 'pcm' | 'baseline', server: string, args: Record<string, unknown>, note: string) => {
      const s = await ctx.spawn(name, server, args);
      const l = await ctx.spawn(`${name}-loader`, 'load/http-load.ts', { url: s.ready.httpUrl, ...load });
      await l.call('run', { kind: 'send', prefix: 'warm-', terminals: 100, durationMs: Math.min(1_000, durationMs / 2), inflight });
      const r = await l.call<{ perSec: number; ok: number; statuses: Record<string, number>; latency: { p50: number; p99: number; p999: number } }>('run', { kind: 'send', prefix: 'off-', terminals: 1_000, durationMs, inflight }, durationMs + 30_000);
      ctx.log(`http ${name}: ${Math.round(r.perSec)} sends/s ${JSON.stringify(r.statuses)}`);
      await l.kill();
      await s.kill();
      rows.push({ name, role, metrics: { sendsPerSec: Math.round(r.perSec), ok: r.ok, p50Ms: r.latency.p50, p99Ms: r.latency.p99, p999Ms: r.latency.p999 }, note: `${note}${writerNote(s.ready)}; statuses ${JSON.stringify(r.statuses)}` });
      return r.perSec;
    };
    const bare = await measure('bare fastify POST', 'baseline', 'servers/bare-fastify.ts', {}, 'answers 202, stores nothing');
    const full = await measure('pcm sqlite FULL', 'pcm', 'servers/gateway.ts', { store: 'sqlite', dataDir: tempDataDir('http') }, 'default: durable, fsync per group commit');
    const normal = await measure('pcm sqlite NORMAL', 'pcm', 'servers/gateway.ts', { store: 'sqlite', sqliteSynchronous: 'NORMAL', dataDir: tempDataDir('http-n') }, 'survives kill -9, not power loss');
    const mem = await measure('pcm memory store', 'pcm', 'servers/gateway.ts', { store: 'memory', dataDir: tempDataDir('http-m') }, 'not durable: engine + HTTP only');
    return {
      params: { durationMs, ...load, inflight, terminals: 1_000, terminalsOnline: 0 },
      rows,
      chartMetric: 'sendsPerSec',
      ratios: [
        check('pcm sqlite FULL / bare fastify', ratio(full, bare), '>=', 0.5),
        { name: 'pcm sqlite NORMAL / bare fastify', value: ratio(normal, bare) },
        { name: 'pcm memory / bare fastify', value: ratio(mem, bare) },
      ],
      notes: ['Terminals are offline: each send is authenticated, validated and appended to the store, then left pending (no push).'],
    };
  },
};
