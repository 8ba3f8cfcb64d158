/** Discovery requests per second (issue 10): PCM discovery (JWT verify + rendezvous over 6 gateways) vs a bare fastify GET route. */
import type { ResultRow } from '../lib/result.js';
import { ratio } from '../lib/stats.js';
import type { Scenario } from '../lib/scenario.js';

export const discovery: Scenario = {
  name: 'discovery',
  title: 'Discovery requests per second',
  summary: 'GET /v1/discovery/{id} on PCM discovery vs a bare fastify GET route',
  async run(ctx) {
    const durationMs = ctx.quick ? 2_000 : 10_000;
    const load = { connections: 64, pipelining: 1 }; // 64 requests really in flight: node serves pipelined requests on one connection one at a time
    const rows: ResultRow[] = [];
    const measure = async (name: string, role: 'pcm' | 'baseline', server: string, note: string) => {
      const s = await ctx.spawn(name, server, { gateways: 6 });
      const l = await ctx.spawn(`${name}-loader`, 'load/http-load.ts', { url: s.ready.httpUrl, ...load });
      await l.call('run', { kind: 'discover', prefix: 't-', terminals: 1_000, durationMs: Math.min(1_000, durationMs / 2), inflight: 64 });
      const r = await l.call<{ perSec: number; ok: number; statuses: Record<string, number>; latency: { p50: number; p99: number; p999: number } }>('run', { kind: 'discover', prefix: 't-', terminals: 1_000, durationMs, inflight: 64 }, durationMs + 30_000);
      ctx.log(`discovery ${name}: ${Math.round(r.perSec)} req/s ${JSON.stringify(r.statuses)}`);
      await l.kill();
      await s.kill();
      rows.push({ name, role, metrics: { requestsPerSec: Math.round(r.perSec), ok: r.ok, p50Ms: r.latency.p50, p99Ms: r.latency.p99, p999Ms: r.latency.p999 }, note: `${note}; statuses ${JSON.stringify(r.statuses)}` });
      return r.perSec;
    };
    const bare = await measure('bare fastify GET', 'baseline', 'servers/bare-fastify.ts', 'fixed JSON answer');
    const pcm = await measure('pcm discovery', 'pcm', 'servers/discovery.ts', 'JWT verify + rendezvous over 6 gateways');
    return {
      params: { durationMs, ...load, inflight: 64, distinctTerminals: 1_000, gateways: 6 },
      rows,
      chartMetric: 'requestsPerSec',
      ratios: [{ name: 'pcm discovery / bare fastify', value: ratio(pcm, bare) }],
      notes: ['The issue sets no target for discovery; the ratio shows the cost of JWT verification and assignment per request.'],
    };
  },
};
