/**
 * HTTP load generator child (autocannon-style: undici Pool, keep-alive, pipelining).
 * `run` issues requests until `count` are done or `durationMs` passed, and reports
 * requests/s, status codes and latency quantiles.
 * kinds: send (POST /v1/terminals/<id>/messages with the API key) and
 * discover (GET /v1/discovery/<id> with that terminal's JWT); ids cycle over `terminals`.
 * With `ratePerSec` the run is open-loop: requests start at that pace (every 5 ms a tick
 * starts what is due, at most `inflight` outstanding; what could not start is counted as
 * `skipped`), the background load of the latency scenario. `stop` ends a running run early.
 */
import { Pool } from 'undici';
import { mintTerminalToken } from '../../protocol/token.js';
import { serveChild } from '../lib/proc.js';
import { summarize } from '../lib/stats.js';
import { BENCH_API_KEY, BENCH_JWT_SECRET, BENCH_PAYLOAD } from '../lib/secrets.js';

interface Args {
  url: string;
  connections?: number;
  pipelining?: number;
}

await serveChild(async (a: Args) => {
  const pool = new Pool(a.url, { connections: a.connections ?? 64, pipelining: a.pipelining ?? 1, keepAliveTimeout: 60_000 });
  const body = JSON.stringify({ payload: BENCH_PAYLOAD, ttlSeconds: 3600 });
  let stopped = false;
  return {
    ready: { pid: process.pid },
    handlers: {
      stop: () => {
        stopped = true;
        return true;
      },
      run: async ({ kind, prefix, terminals, count = Infinity, durationMs = 5_000, inflight = 64, fanout = 100, ratePerSec }: { kind: 'send' | 'discover' | 'fanout'; prefix: string; terminals: number; count?: number; durationMs?: number; inflight?: number; fanout?: number; ratePerSec?: number }) => {
        stopped = false;
        const tokens = kind === 'discover' ? await Promise.all(Array.from({ length: Math.min(terminals, 1000) }, (_, i) => mintTerminalToken(BENCH_JWT_SECRET, `${prefix}${i}`))) : [];
        // fan-out request i names `fanout` consecutive terminals, wrapping round the fleet
        const fanoutBody = (i: number) =>
          JSON.stringify({ terminalIds: Array.from({ length: fanout }, (_, k) => `${prefix}${(i * fanout + k) % terminals}`), payload: BENCH_PAYLOAD, ttlSeconds: 3600 });
        const statuses: Record<string, number> = {};
        const lat: number[] = [];
        let issued = 0;
        let done = 0;
        const t0 = performance.now();
        const one = async (i: number) => {
          const s = performance.now();
          try {
            const res = kind === 'send'
              ? await pool.request({ method: 'POST', path: `/v1/terminals/${prefix}${i % terminals}/messages`, headers: { authorization: `Bearer ${BENCH_API_KEY}`, 'content-type': 'application/json' }, body })
              : kind === 'fanout'
              ? await pool.request({ method: 'POST', path: '/v1/messages', headers: { authorization: `Bearer ${BENCH_API_KEY}`, 'content-type': 'application/json' }, body: fanoutBody(i) })
              : await pool.request({ method: 'GET', path: `/v1/discovery/${prefix}${i % tokens.length}`, headers: { authorization: `Bearer ${tokens[i % tokens.length]}` } });
            await res.body.dump();
            statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          } catch (e) {
            const k = `error ${(e as Error).message}`.slice(0, 80);
            statuses[k] = (statuses[k] ?? 0) + 1;
          }
          lat.push(performance.now() - s);
          done++;
        };
        const more = () => !stopped && issued < count && performance.now() - t0 < durationMs;
        let skipped = 0;
        if (ratePerSec !== undefined) {
          // open loop: start what is due every tick, never more than `inflight` outstanding
          const running = new Set<Promise<void>>();
          while (more()) {
            const due = Math.floor(((performance.now() - t0) / 1000) * ratePerSec) - issued - skipped;
            for (let k = 0; k < due; k++) {
              if (running.size >= inflight) {
                skipped += due - k;
                break;
              }
              const p: Promise<void> = one(issued++).finally(() => running.delete(p));
              running.add(p);
            }
            await new Promise((r) => setTimeout(r, 5));
          }
          await Promise.all(running);
        } else {
          const worker = async () => {
            while (more()) await one(issued++);
          };
          await Promise.all(Array.from({ length: inflight }, worker));
        }
        const ms = performance.now() - t0;
        const ok = Object.entries(statuses).filter(([k]) => /^2\d\d$/.test(k)).reduce((n, [, v]) => n + v, 0);
        return { requests: done, ok, ms, perSec: ok / (ms / 1000), statuses, skipped, latency: summarize(lat) };
      },
    },
    close: () => pool.close(),
  };
});
