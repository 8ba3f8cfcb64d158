/**
 * Load generator child for reconnect storms (`storm` scenario): `count` real terminal SDK
 * clients (PcmClient, WebSocket, profile `normal`), so what reconnects is exactly what ships:
 * discovery before every connect, full-jitter backoff, `drain` frames and `Retry-After` obeyed.
 * It records when each session arrives (the `connected` event, at `welcome`) in one-second
 * buckets after a mark, and the errors the clients saw, by code.
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
}

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

  for (let i = 0; i < a.count; i++) {
    const id = `${a.prefix}${a.start + i}`;
    const token = await mintTerminalToken(BENCH_JWT_SECRET, id);
    const client = new PcmClient({ terminalId: id, token, discoveryUrl: a.discoveryUrl, profile: 'normal', duplicateStore: store, handler: () => undefined });
    const t: Terminal = { client, connected: false };
    client.on('connected', (info) => {
      t.connected = true;
      t.gatewayId = info.gatewayId;
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
    client.on('disconnected', () => (t.connected = false));
    client.on('reconnecting', () => attempts++);
    client.on('drain', () => drains++);
    client.on('failover', () => failovers++);
    client.on('error', (e) => {
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
        return true;
      },
      stats: () => {
        const byGateway: Record<string, number> = {};
        for (const t of terminals) if (t.connected && t.gatewayId) byGateway[t.gatewayId] = (byGateway[t.gatewayId] ?? 0) + 1;
        return { total: terminals.length, connected: connectedCount(), arrivals, stray, lastArrivalAt, buckets: Object.fromEntries(buckets), attempts, drains, failovers, errors: Object.fromEntries(errors), messages: Object.fromEntries(messages), byGateway };
      },
    },
    close: async () => {
      await Promise.race([Promise.all(terminals.map((t) => t.client.stop().catch(() => undefined))), new Promise((r) => setTimeout(r, 2000))]);
    },
  };
});
