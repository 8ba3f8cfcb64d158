/**
 * Send-to-receive latency (issue 2 "Numbers", issue 10): a connected WebSocket and MQTT
 * terminal on a PCM gateway (sender POST -> durable store -> push -> frame arrives) beside a
 * raw `ws` round trip and an `aedes`-alone QoS 1 round trip, same run, sequential sends;
 * then the PCM WebSocket path and its bare baseline again under background sender load
 * (an open-loop HTTP loader sending N messages/s to 1,000 offline terminals meanwhile).
 */
import type { ResultRow } from '../lib/result.js';
import { check } from '../lib/result.js';
import { ratio, type LatencySummary } from '../lib/stats.js';
import { tempDataDir, writerNote, type Scenario } from '../lib/scenario.js';

export const latency: Scenario = {
  name: 'latency',
  title: 'Send-to-receive latency',
  summary: 'p50/p99/p99.9 send-to-receive for WS and MQTT terminals vs raw ws and aedes round trips',
  // verdicts near a target on a VM whose speed drifts: median of rounds (bench/lib/rounds.ts)
  rounds: 3,
  async run(ctx) {
    const count = ctx.quick ? 200 : 3_000;
    const durationMs = ctx.quick ? 4_000 : 60_000;
    const rows: ResultRow[] = [];
    const probe = async (name: string, role: 'pcm' | 'baseline', args: Record<string, unknown>, note: string) => {
      const p = await ctx.spawn(`probe-${name}`, 'load/latency-probe.ts', args);
      await p.call('run', { count: Math.min(50, count), durationMs: 2_000 }); // warm-up (JIT, pools)
      const r = await p.call<{ latency: LatencySummary; timeouts: number }>('run', { count, durationMs }, durationMs + 30_000);
      ctx.log(`latency ${name}: p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms (${r.latency.count} samples)`);
      await p.kill();
      rows.push({ name, role, metrics: { samples: r.latency.count, p50Ms: r.latency.p50, p99Ms: r.latency.p99, p999Ms: r.latency.p999, maxMs: r.latency.max, timeouts: r.timeouts }, note });
      return r.latency;
    };
    const bareWs = await ctx.spawn('bare-ws', 'servers/bare-ws.ts');
    const raw = await probe('raw ws round trip', 'baseline', { mode: 'raw-ws', url: bareWs.ready.websocketUrl }, 'echo server, no auth/store');
    await bareWs.kill();
    const bareFastify = await ctx.spawn('bare-fastify', 'servers/bare-fastify.ts');
    const push = await probe('bare fastify POST -> ws push', 'baseline', { mode: 'pcm-ws', url: bareFastify.ready.websocketUrl, httpUrl: bareFastify.ready.httpUrl, id: 'probe-ws' }, 'the same HTTP-in, WebSocket-out path with nothing in between: no auth, no store');
    await bareFastify.kill();
    const aedes = await ctx.spawn('bare-aedes', 'servers/bare-aedes.ts');
    const rawMqtt = await probe('aedes alone QoS 1 round trip', 'baseline', { mode: 'raw-mqtt', url: aedes.ready.mqttUrl }, 'publish to own topic');
    await aedes.kill();
    const gw = await ctx.spawn('gateway', 'servers/gateway.ts', { store: 'sqlite', dataDir: tempDataDir('latency') });
    const pws = await probe('pcm ws (sqlite FULL)', 'pcm', { mode: 'pcm-ws', url: gw.ready.websocketUrl, httpUrl: gw.ready.httpUrl, id: 'probe-ws' }, `HTTP POST -> store -> frame${writerNote(gw.ready)}`);
    const pmq = await probe('pcm mqtt (sqlite FULL)', 'pcm', { mode: 'pcm-mqtt', url: gw.ready.mqttUrl, httpUrl: gw.ready.httpUrl, id: 'probe-mqtt' }, `HTTP POST -> store -> QoS 1 publish${writerNote(gw.ready)}`);
    await gw.kill();
    const gwMem = await ctx.spawn('gateway-memory', 'servers/gateway.ts', { store: 'memory', dataDir: tempDataDir('latency-mem') });
    const pmem = await probe('pcm ws (memory store)', 'pcm', { mode: 'pcm-ws', url: gwMem.ready.websocketUrl, httpUrl: gwMem.ready.httpUrl, id: 'probe-ws' }, 'no fsync: engine + HTTP cost only');
    await gwMem.kill();

    // Under load: the same probe while a loader sends `rate` messages/s (open loop) to 1,000
    // offline terminals on the same server: stored by PCM, answered 202 by the bare route.
    const loads = ctx.quick ? [500] : [1_000, 4_000];
    const loadedCount = ctx.quick ? 200 : 2_000;
    const underLoad: { rate: number; bare: LatencySummary; pcm: LatencySummary }[] = [];
    const loaded = async (name: string, role: 'pcm' | 'baseline', server: string, args: Record<string, unknown>, rate: number, note: string) => {
      const s = await ctx.spawn(`${name}-server`, server, args);
      const l = await ctx.spawn(`${name}-loader`, 'load/http-load.ts', { url: s.ready.httpUrl, connections: 64 });
      const p = await ctx.spawn(`${name}-probe`, 'load/latency-probe.ts', { mode: 'pcm-ws', url: s.ready.websocketUrl, httpUrl: s.ready.httpUrl, id: 'probe-ws' });
      await p.call('run', { count: 50, durationMs: 2_000 });
      const bg = l.call<{ perSec: number; skipped: number; statuses: Record<string, number> }>('run', { kind: 'send', prefix: 'bg-', terminals: 1_000, durationMs: 120_000, inflight: 256, ratePerSec: rate }, 150_000);
      await new Promise((r) => setTimeout(r, 1_000)); // the load reaches its pace first
      const r = await p.call<{ latency: LatencySummary; timeouts: number }>('run', { count: loadedCount, durationMs: 60_000 }, 90_000);
      await l.call('stop');
      const b = await bg;
      ctx.log(`latency ${name}: p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms under ${Math.round(b.perSec)} sends/s (${b.skipped} skipped) ${JSON.stringify(b.statuses)}`);
      await Promise.all([p.kill(), l.kill()]);
      await s.kill();
      rows.push({
        name,
        role,
        metrics: { samples: r.latency.count, p50Ms: r.latency.p50, p99Ms: r.latency.p99, p999Ms: r.latency.p999, maxMs: r.latency.max, timeouts: r.timeouts, backgroundPerSec: Math.round(b.perSec) },
        note: `${note}${writerNote(s.ready)}; background statuses ${JSON.stringify(b.statuses)}${b.skipped ? `, ${b.skipped} not started (loader at its in-flight cap)` : ''}`,
      });
      return r.latency;
    };
    for (const rate of loads) {
      const label = `${rate.toLocaleString('en-US')} sends/s background`;
      const bare = await loaded(`bare fastify POST -> ws push, ${label}`, 'baseline', 'servers/bare-fastify.ts', {}, rate, 'bare route under the same load');
      const pcm = await loaded(`pcm ws (sqlite FULL), ${label}`, 'pcm', 'servers/gateway.ts', { store: 'sqlite', dataDir: tempDataDir(`latency-load-${rate}`) }, rate, 'background sends stored durably too');
      underLoad.push({ rate, bare, pcm });
    }
    return {
      params: { count, durationMs, sequential: true, backgroundLoads: loads, loadedCount },
      rows,
      chartMetric: 'p99Ms',
      ratios: [
        check('pcm ws p99 / bare fastify->ws push p99', ratio(pws.p99, push.p99), '<=', 2),
        check('pcm mqtt p99 / bare fastify->ws push p99', ratio(pmq.p99, push.p99), '<=', 2),
        { name: 'pcm ws (memory store) p99 / bare fastify->ws push p99', value: ratio(pmem.p99, push.p99) },
        { name: 'pcm ws p99 / raw ws echo p99', value: ratio(pws.p99, raw.p99) },
        { name: 'pcm mqtt p99 / aedes alone p99', value: ratio(pmq.p99, rawMqtt.p99) },
        ...underLoad.map((u) => check(`pcm ws p99 / bare p99 under ${u.rate.toLocaleString('en-US')} sends/s`, ratio(u.pcm.p99, u.bare.p99), '<=', 2)),
      ],
      notes: [
        'The target baseline is the same path with nothing in it: a bare fastify POST route that pushes the frame to a plain ws client (HTTP in, WebSocket out). PCM adds auth, validation, the durable append (SQLite FULL: an fsync per commit) and the session. The raw ws echo is the transport alone (no HTTP), shown for scale.',
        'The first rows are unloaded: one sequential sender. The "background" rows repeat the WebSocket path and its bare baseline while an open-loop HTTP loader (its own process, 64 connections) sends the given rate to 1,000 offline terminals of the same server.',
      ],
    };
  },
};
