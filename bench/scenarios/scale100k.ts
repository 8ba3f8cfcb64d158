/**
 * 100,000 terminals across six gateway processes on one machine (issue 10), half WebSocket,
 * half MQTT, load generators in other processes (<= 9,000 connections each, their own
 * 127.0.0.x source addresses). Bounded: a connect budget; degrades with a clear note when
 * the machine cannot hold it (free memory checked first; connections that fail are counted).
 */
import os from 'node:os';
import { connectTerminals, tempDataDir, type Mem, type Scenario } from '../lib/scenario.js';
import type { Child } from '../lib/proc.js';

/** Rough need per terminal across gateway + loader processes, from the memory scenario (generous). */
const BYTES_PER_TERMINAL_ALL_PROCESSES = 80_000;

export const scale100k: Scenario = {
  name: 'scale100k',
  title: 'Connection scale: 100,000 terminals over six gateways',
  summary: '100,000 idle terminals (half WS, half MQTT) over six gateway processes, if the machine holds it',
  async run(ctx) {
    const gateways = 6;
    let target = ctx.quick ? 1_200 : 100_000;
    const notes: string[] = [];
    const free = os.freemem();
    const fits = Math.floor((free * 0.7) / BYTES_PER_TERMINAL_ALL_PROCESSES);
    if (fits < target) {
      notes.push(`Free memory ${Math.round(free / 2 ** 20)} MB holds about ${fits} terminals at ${BYTES_PER_TERMINAL_ALL_PROCESSES} B each across all processes: scaled down from ${target} to ${fits}.`);
      target = fits;
    }
    const perGateway = Math.ceil(target / gateways);
    // 12 loader groups (6 gateways x WS/MQTT): the first `target % 12` take one more, so the
    // groups add up to the target exactly (floor(100,000 / 12) x 12 is 99,996).
    const groups = gateways * 2;
    const groupSize = (i: number) => Math.floor(target / groups) + (i < target % groups ? 1 : 0);
    const budgetMs = ctx.quick ? 20_000 : 240_000;
    const gws: Child[] = [];
    for (let g = 0; g < gateways; g++) gws.push(await ctx.spawn(`gw-${g}`, 'servers/gateway.ts', { store: 'sqlite', gatewayId: `gw-${g}`, dataDir: tempDataDir(`scale-${g}`), heartbeatSeconds: 120 }));
    const before = await Promise.all(gws.map((g) => g.call<Mem>('mem')));
    const t0 = performance.now();
    // Every gateway gets half WS, half MQTT, from its own loaders with their own source addresses.
    const results = await Promise.all(gws.flatMap((gw, g) => (['pcm-ws', 'pcm-mqtt'] as const).map((mode, m) => {
      const n = groupSize(g * 2 + m);
      return connectTerminals(ctx, `gw${g}-${mode}`, mode, String(mode === 'pcm-ws' ? gw.ready.websocketUrl : gw.ready.mqttUrl), `s${g}${m}-`, n, { budgetMs, concurrency: 16, firstChildIndex: g * 4 + m * 2 });
    })));
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, ctx.quick ? 500 : 5_000));
    const after = await Promise.all(gws.map((g) => g.call<Mem>('mem')));
    const rows = gws.map((_, g) => {
      const ws = results[g * 2]!;
      const mq = results[g * 2 + 1]!;
      const n = ws.connected + mq.connected;
      return {
        name: `gw-${g}`,
        role: 'pcm' as const,
        metrics: { wsTerminals: ws.connected, mqttTerminals: mq.connected, failed: ws.failed + mq.failed, rssMb: Math.round(after[g]!.rss / 2 ** 20), rssPerTerminalBytes: n ? Math.round((after[g]!.rss - before[g]!.rss) / n) : NaN },
        note: Object.keys({ ...ws.errors, ...mq.errors }).slice(0, 2).join('; '),
      };
    });
    const total = results.reduce((s, r) => s + r.connected, 0);
    const failed = results.reduce((s, r) => s + r.failed, 0);
    rows.push({ name: 'total', role: 'pcm', metrics: { wsTerminals: rows.reduce((s, r) => s + r.metrics.wsTerminals, 0), mqttTerminals: rows.reduce((s, r) => s + r.metrics.mqttTerminals, 0), failed, rssMb: rows.reduce((s, r) => s + r.metrics.rssMb, 0), rssPerTerminalBytes: NaN }, note: `${Math.round(total / (ms / 1000))} connects/s overall` });
    if (total < target) notes.push(`Only ${total} of ${target} terminals connected within ${budgetMs / 1000} s (${failed} failed): the machine did not hold the full target this run.`);
    notes.push('Memory per terminal: compare with the bare ws / aedes baselines of the `memory` and `connections` scenarios (one gateway per protocol there).');
    return {
      params: { gateways, target, perGateway, budgetMs, connectMs: Math.round(ms) },
      rows,
      chartMetric: 'rssPerTerminalBytes',
      ratios: [{ name: 'connected / target', value: Math.round((total / target) * 1000) / 1000, target: '>= 1', pass: total >= target }],
      notes,
    };
  },
};
