/**
 * Load generator child for reconnect storms (`storm` scenario): `count` real terminal SDK
 * clients (PcmClient, WebSocket, profile `normal`), so what reconnects is exactly what ships:
 * discovery before every connect, full-jitter backoff, `drain` frames and `Retry-After` obeyed.
 * It records when each session arrives (the `connected` event, at `welcome`) in one-second
 * buckets after a mark, the errors the clients saw, by code, and for each code the last
 * events of a few terminals that saw it (`examples`: what led to the error).
 *
 * Each child holds at most ~5,000 terminals: one WebSocket each plus the discovery requests in
 * flight during a storm stay well under the 20,000 open-files cap (DESIGN.md 6). The SDK dials
 * from 127.0.0.1 (it has no source-address option): 20,000 sockets over two or more gateway
 * ports stay far below the 28,000 ephemeral ports each destination allows.
 */
import { PcmClient } from '../../client/client.js';
import { MemoryDuplicateStore } from '../../client/duplicate-store.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { serveChild } from '../lib/proc.js';
import { BENCH_JWT_SECRET } from '../lib/secrets.js';

interface Args {
  discoveryUrl: string;
  prefix: string;
  start: number;
  count: number;
}

interface Terminal {
  client: PcmClient;
  connected: boolean;
  gatewayId?: string;
  /** The last events of this terminal since the mark (ms after it), for `examples`. */
  trail: string[];
}

/** Events kept per terminal, and terminals kept per error code, for the `examples` of a phase. */
const TRAIL = 12;
const EXAMPLES_PER_CODE = 3;

await serveChild(async (a: Args) => {
  const store = new MemoryDuplicateStore();
  const terminals: Terminal[] = [];
  let markAt = 0;
  /** Gateways whose arrivals count (the survivors); arrivals anywhere else are `stray`. */
  let targets = new Set<string>();
  let stray = 0;
  let buckets = new Map<number, number>();
  let arrivals = 0;
  let lastArrivalAt = 0;
  let attempts = 0;
  let drains = 0;
  let failovers = 0;
  let errors = new Map<string, number>();
  /** Error messages by shape (digits folded), to tell a refused dial from a timeout from a takeover. */
  let messages = new Map<string, number>();
  /** Per error code, a few terminals that saw it: their trails say what led there. */
  let examples = new Map<string, Set<Terminal>>();
  const note = (t: Terminal, what: string) => {
    if (!markAt) return;
    t.trail.push(`+${Date.now() - markAt}ms ${what}`);
    if (t.trail.length > TRAIL) t.trail.shift();
  };

  for (let i = 0; i < a.count; i++) {
    const id = `${a.prefix}${a.start + i}`;
    const token = await mintTerminalToken(BENCH_JWT_SECRET, id);
    const client = new PcmClient({ terminalId: id, token, discoveryUrl: a.discoveryUrl, profile: 'normal', duplicateStore: store, handler: () => undefined });
    const t: Terminal = { client, connected: false, trail: [] };
    client.on('connected', (info) => {
      t.connected = true;
      t.gatewayId = info.gatewayId;
      note(t, `connected ${info.gatewayId} session ${info.sessionId}`);
      if (!markAt) return;
      if (!targets.has(info.gatewayId ?? '')) {
        stray++;
        return;
      }
      const now = Date.now();
      const s = Math.floor((now - markAt) / 1000);
      buckets.set(s, (buckets.get(s) ?? 0) + 1);
      arrivals++;
      lastArrivalAt = now;
    });
    client.on('disconnected', (d) => {
      t.connected = false;
      note(t, `disconnected: ${d.reason}`);
    });
    client.on('reconnecting', (r) => {
      attempts++;
      note(t, `reconnecting in ${r.delayMs} ms`);
    });
    client.on('drain', (d) => {
      drains++;
      note(t, `drain ${d.reason} ${d.reconnectAfterMs} ms`);
    });
    client.on('failover', (f) => {
      failovers++;
      note(t, `failover from ${f.gatewayId}`);
    });
    client.on('assignment', (x) => note(t, `assigned ${x.gatewayId}`));
    client.on('error', (e) => {
      note(t, `error ${e.code}: ${e.message.slice(0, 80)}`);
      if (markAt) {
        const ex = examples.get(e.code) ?? new Set<Terminal>();
        if (ex.size < EXAMPLES_PER_CODE) ex.add(t);
        examples.set(e.code, ex);
      }
      errors.set(e.code, (errors.get(e.code) ?? 0) + 1);
      const shape = `${e.code}: ${e.message.replace(/\d+/g, '#').slice(0, 140)}`;
      if (messages.size < 50 || messages.has(shape)) messages.set(shape, (messages.get(shape) ?? 0) + 1);
    });
    terminals.push(t);
  }

  const connectedCount = () => terminals.reduce((n, t) => n + (t.connected ? 1 : 0), 0);

  return {
    ready: { pid: process.pid },
    handlers: {
      /** Starts every client, at most `concurrency` still connecting at a time; waits for all (or the budget). */
      start: async ({ concurrency = 100, budgetMs = 120_000 }: { concurrency?: number; budgetMs?: number }) => {
        const t0 = performance.now();
        let next = 0;
        const worker = async () => {
          while (next < terminals.length && performance.now() - t0 < budgetMs) {
            const t = terminals[next++]!;
            const left = budgetMs - (performance.now() - t0);
            let timer: NodeJS.Timeout | undefined;
            const up = new Promise<void>((resolve) => {
              t.client.once('connected', () => resolve());
              timer = setTimeout(resolve, left);
            });
            await t.client.start();
            await up;
            clearTimeout(timer);
          }
        };
        await Promise.all(Array.from({ length: concurrency }, worker));
        return { connected: connectedCount(), ms: performance.now() - t0, errors: Object.fromEntries(errors) };
      },
      /** Starts the arrival clock (the parent's Date.now() at the kill or drain) and clears the counters. */
      mark: ({ at, gateways }: { at: number; gateways: string[] }) => {
        markAt = at;
        targets = new Set(gateways);
        stray = 0;
        buckets = new Map();
        arrivals = 0;
        lastArrivalAt = 0;
        attempts = 0;
        drains = 0;
        failovers = 0;
        errors = new Map();
        messages = new Map();
        examples = new Map();
        for (const t of terminals) t.trail = [];
        return true;
      },
      stats: () => {
        const byGateway: Record<string, number> = {};
        for (const t of terminals) if (t.connected && t.gatewayId) byGateway[t.gatewayId] = (byGateway[t.gatewayId] ?? 0) + 1;
        return { total: terminals.length, connected: connectedCount(), arrivals, stray, lastArrivalAt, buckets: Object.fromEntries(buckets), attempts, drains, failovers, errors: Object.fromEntries(errors), examples: Object.fromEntries([...examples].map(([code, ts]) => [code, [...ts].map((t) => t.trail.join(' | '))])), messages: Object.fromEntries(messages), byGateway };
      },
    },
    close: async () => {
      await Promise.race([Promise.all(terminals.map((t) => t.client.stop().catch(() => undefined))), new Promise((r) => setTimeout(r, 2000))]);
    },
  };
});
