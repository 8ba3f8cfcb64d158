/**
 * Delivery throughput to connected terminals (issue 2 "Numbers", issue 10): messages/s
 * delivered to N connected terminals through a PCM gateway with the durable SQLite store in the
 * path (HTTP send -> append -> push -> terminal ack) vs a bare `ws` server pushing the same
 * number of frames one way to the same number of clients. Rate = messages received by the
 * terminals / time from the first send to the last arrival, measured by the parent.
 */
import type { ResultRow } from '../lib/result.js';
import { check } from '../lib/result.js';
import { ratio } from '../lib/stats.js';
import { connectTerminals, settleWarmup, tempDataDir, waitDelivered, writerNote, type Scenario } from '../lib/scenario.js';
import { BENCH_PAYLOAD } from '../lib/secrets.js';

export const throughput: Scenario = {
  name: 'throughput',
  title: 'Delivery to connected terminals',
  summary: 'messages/s delivered to 1,000 connected terminals (sqlite store in the path) vs raw ws one-way',
  // verdicts near a target on a VM whose speed drifts: median of rounds (bench/lib/rounds.ts)
  rounds: 3,
  async run(ctx) {
    const terminals = ctx.quick ? 100 : 1_000;
    const messages = ctx.quick ? 2_000 : 30_000;
    const warmup = messages / 5;
    const timeoutMs = ctx.quick ? 20_000 : 120_000;
    const perLoader = Math.ceil(terminals / 2);
    const rows: ResultRow[] = [];

    const bare = await ctx.spawn('bare-ws', 'servers/bare-ws.ts');
    const rawLoad = await connectTerminals(ctx, 'raw', 'raw-ws', String(bare.ready.websocketUrl), 'r-', terminals, { perLoader });
    // Warm-up, not measured (as in `http` and `latency`): the same traffic, a fifth of it, so the
    // measured phase of every row runs on JIT-compiled code and a grown heap.
    let t0 = performance.now();
    await bare.call('blast', { count: warmup, payload: BENCH_PAYLOAD });
    await settleWarmup(rawLoad.loaders, warmup, t0, timeoutMs);
    t0 = performance.now();
    await bare.call('blast', { count: messages, payload: BENCH_PAYLOAD });
    const raw = await waitDelivered(rawLoad.loaders, messages, t0, timeoutMs);
    const rawRate = raw.received / (raw.ms / 1000);
    ctx.log(`throughput raw ws: ${Math.round(rawRate)} msg/s`);
    rows.push({ name: 'raw ws one-way', role: 'baseline' as const, metrics: { deliveredPerSec: Math.round(rawRate), delivered: raw.received, terminals: rawLoad.connected }, note: 'server pushes JSON frames round-robin, no store' });
    for (const l of rawLoad.loaders) await l.kill();
    await bare.kill();

    const fanout = Math.min(100, terminals);
    const pcm = async (name: string, mode: 'pcm-ws' | 'pcm-mqtt', store: Record<string, unknown>, note: string, sendKind: 'send' | 'fanout' = 'send') => {
      const gw = await ctx.spawn(`gw-${mode}`, 'servers/gateway.ts', { ...store, dataDir: tempDataDir('tput') });
      const url = String(mode === 'pcm-ws' ? gw.ready.websocketUrl : gw.ready.mqttUrl);
      const load = await connectTerminals(ctx, mode, mode, url, 'tp-', terminals, { perLoader });
      const sender = await ctx.spawn('sender', 'load/http-load.ts', { url: gw.ready.httpUrl, connections: 64, pipelining: 1 });
      const perRequest = sendKind === 'fanout' ? fanout : 1;
      const runOf = (count: number) => sendKind === 'fanout'
        ? { kind: 'fanout', prefix: 'tp-', terminals, count: Math.ceil(count / fanout), durationMs: timeoutMs, inflight: 8, fanout }
        : { kind: 'send', prefix: 'tp-', terminals, count, durationMs: timeoutMs, inflight: 64 };
      t0 = performance.now();
      await sender.call('run', runOf(warmup), timeoutMs + 30_000);
      await settleWarmup(load.loaders, warmup, t0, timeoutMs);
      t0 = performance.now();
      const sent = sender.call<{ ok: number; perSec: number; statuses: Record<string, number> }>('run', runOf(messages), timeoutMs + 30_000);
      const r = await sent;
      // a fan-out request answered 2xx stored one copy per named terminal (207s would show in the statuses)
      const s = { ...r, ok: r.ok * perRequest, perSec: r.perSec * perRequest };
      const got = await waitDelivered(load.loaders, s.ok, t0, timeoutMs);
      const rate = got.received / (got.ms / 1000);
      ctx.log(`throughput ${name}: ${Math.round(rate)} msg/s delivered (${got.received}/${s.ok}), sends ${Math.round(s.perSec)}/s`);
      rows.push({ name, role: 'pcm' as const, metrics: { deliveredPerSec: Math.round(rate), delivered: got.received, terminals: load.connected, sendsPerSec: Math.round(s.perSec) }, note: `${note}${writerNote(gw.ready)}; send statuses ${JSON.stringify(s.statuses)}` });
      await sender.kill();
      for (const l of load.loaders) await l.kill();
      await gw.kill();
      return rate;
    };
    const ws = await pcm('pcm ws, sqlite FULL', 'pcm-ws', { store: 'sqlite' }, 'HTTP send -> durable append -> push -> ack');
    const mq = await pcm('pcm mqtt, sqlite FULL', 'pcm-mqtt', { store: 'sqlite' }, 'same, QoS 1 publish');
    const fan = await pcm(`pcm ws, sqlite FULL, fan-out ${fanout}/request`, 'pcm-ws', { store: 'sqlite' }, `POST /v1/messages naming ${fanout} terminals (8 requests in flight) -> ${fanout} durable appends -> push -> ack`, 'fanout');
    return {
      params: { terminals, messages, warmupMessages: warmup, senderInflight: 64, fanoutPerRequest: fanout, fanoutInflight: 8, loaders: 2 },
      rows,
      chartMetric: 'deliveredPerSec',
      ratios: [
        check('pcm ws (durable) / raw ws one-way', ratio(ws, rawRate), '>=', 0.3),
        { name: 'pcm mqtt (durable) / raw ws one-way', value: ratio(mq, rawRate) },
        check(`pcm ws fan-out (durable) / raw ws one-way`, ratio(fan, rawRate), '>=', 0.3),
      ],
      notes: [`Every row first delivers ${warmup} messages the same way, not measured (JIT and heap warm-up), then the loaders' counters are reset.`, 'Single sends: one HTTP request per delivered message. Fan-out: one request per 100 messages (the fleet send of docs/sender-api.md); both go through the same durable group-committed append, push and ack.', 'PCM rate includes the sender HTTP requests (one process, 64 in flight) and the durable append; the raw ws baseline has no sender and no store, so it is the transport ceiling.'],
    };
  },
};

