/**
 * Idle memory per terminal and connect rate (issue 2 "Numbers"; issue 10 "connection scale"):
 * RSS of the server process after GC with N idle terminals minus its RSS before, divided by N,
 * for a PCM gateway over WebSocket and over MQTT, beside a bare `ws` server and `aedes` alone.
 * Each server is a fresh process; connections come from load children (<= 9,000 each,
 * several 127.0.0.x source addresses).
 */
import type { ResultRow } from '../lib/result.js';
import { check } from '../lib/result.js';
import { ratio } from '../lib/stats.js';
import { connectTerminals, tempDataDir, type Mem, type Scenario, type ScenarioContext } from '../lib/scenario.js';

async function measure(ctx: ScenarioContext, n: number) {
  const rows: ResultRow[] = [];
  const perTerminal: Record<string, number> = {};
  const cases = [
    { key: 'bare-ws', name: 'bare ws server', role: 'baseline' as const, server: 'servers/bare-ws.ts', args: {}, mode: 'raw-ws', url: 'websocketUrl', note: 'no auth, no session' },
    { key: 'aedes', name: 'aedes alone', role: 'baseline' as const, server: 'servers/bare-aedes.ts', args: {}, mode: 'raw-mqtt', url: 'mqttUrl', note: 'no auth hooks, subscribed QoS 1' },
    { key: 'pcm-ws', name: 'pcm gateway, ws', role: 'pcm' as const, server: 'servers/gateway.ts', args: { store: 'sqlite' }, mode: 'pcm-ws', url: 'websocketUrl', note: 'JWT, session, presence, sqlite' },
    { key: 'pcm-mqtt', name: 'pcm gateway, mqtt', role: 'pcm' as const, server: 'servers/gateway.ts', args: { store: 'sqlite' }, mode: 'pcm-mqtt', url: 'mqttUrl', note: 'JWT, session, presence, sqlite' },
  ];
  for (const c of cases) {
    const server = await ctx.spawn(c.key, c.server, { ...c.args, dataDir: tempDataDir('mem') });
    const before = await server.call<Mem>('mem');
    const load = await connectTerminals(ctx, c.key, c.mode, String(server.ready[c.url]), `${c.key}-`, n, { budgetMs: ctx.quick ? 20_000 : 180_000 });
    await new Promise((r) => setTimeout(r, ctx.quick ? 500 : 3_000)); // let presence writes and timers settle
    const after = await server.call<Mem>('mem');
    const per = load.connected ? (after.rss - before.rss) / load.connected : NaN;
    perTerminal[c.key] = per;
    ctx.log(`memory ${c.name}: ${load.connected}/${n} connected at ${Math.round(load.perSec)}/s, ${Math.round(per)} B/terminal RSS`);
    rows.push({
      name: c.name,
      role: c.role,
      metrics: {
        terminals: load.connected,
        failed: load.failed,
        connectsPerSec: Math.round(load.perSec),
        rssPerTerminalBytes: Math.round(per),
        heapPerTerminalBytes: load.connected ? Math.round((after.heapUsed - before.heapUsed) / load.connected) : NaN,
        rssMb: Math.round(after.rss / 2 ** 20),
      },
      note: c.note + (Object.keys(load.errors).length ? `; errors ${JSON.stringify(load.errors).slice(0, 200)}` : ''),
    });
    for (const l of load.loaders) await l.kill();
    await server.kill();
  }
  return {
    params: { terminals: n, maxPerLoader: 9_000, gcBeforeMeasure: true },
    rows,
    chartMetric: 'rssPerTerminalBytes',
    ratios: [
      check('pcm ws / bare ws (RSS per terminal)', ratio(perTerminal['pcm-ws']!, perTerminal['bare-ws']!), '<=', 1.5),
      check('pcm mqtt / aedes alone (RSS per terminal)', ratio(perTerminal['pcm-mqtt']!, perTerminal['aedes']!), '<=', 1.5),
    ],
    notes: ['RSS delta after forced GC (--expose-gc) in the server process, divided by connected terminals; connect rate counts from the first dial to the last welcome/SUBACK with 64 dials in flight per load process.'],
  };
}

export const memory: Scenario = {
  name: 'memory',
  title: 'Idle memory per terminal (10,000)',
  summary: 'RSS per idle terminal at 10,000 terminals: pcm ws/mqtt vs bare ws and aedes alone',
  run: (ctx) => measure(ctx, ctx.quick ? 300 : 10_000),
};

export const connections: Scenario = {
  name: 'connections',
  title: 'Connection scale: 19,000 idle terminals on one gateway',
  summary: '19,000 idle terminals on one gateway process (WS, MQTT) vs bare ws and aedes: memory and connect rate',
  run: (ctx) => measure(ctx, ctx.quick ? 500 : 19_000),
};
