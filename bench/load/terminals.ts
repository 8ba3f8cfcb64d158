/**
 * Load generator child: holds many lean terminal connections (raw `ws` / `mqtt`, not the SDK,
 * so the generator is not the bottleneck) and counts what they receive.
 * Modes: pcm-ws (JWT, acks every message frame), pcm-mqtt (client id = username = terminal id,
 * password = JWT, subscribes to its messages topic, publishes acks), raw-ws (bare `ws`
 * baseline), raw-mqtt (`aedes` alone baseline).
 * Source addresses rotate over `localAddresses` (127.0.0.x) so one machine can open more than
 * 64k connections; each child stays well under the 20,000 open-files cap (DESIGN.md 6).
 */
import net from 'node:net';
import WebSocket from 'ws';
import mqtt from 'mqtt';
import { mintTerminalToken } from '../../protocol/token.js';
import { memoryAfterGc, serveChild } from '../lib/proc.js';
import { BENCH_JWT_SECRET } from '../lib/secrets.js';

type Mode = 'pcm-ws' | 'pcm-mqtt' | 'raw-ws' | 'raw-mqtt';
interface Args {
  mode: Mode;
  url: string;
  prefix: string;
  start: number;
  count: number;
  localAddresses: string[];
  concurrency?: number;
  connectTimeoutMs?: number;
}

interface Conn {
  close(): void;
}

await serveChild(async (a: Args) => {
  let received = 0;
  let lastReceiveAt = 0;
  const conns: Conn[] = [];
  let closed = 0;
  const errors = new Map<string, number>();
  const noteError = (e: unknown) => {
    const k = String((e as Error)?.message ?? e).slice(0, 120);
    errors.set(k, (errors.get(k) ?? 0) + 1);
  };
  const onFrame = () => {
    received++;
    lastReceiveAt = performance.now();
  };

  function connectOne(i: number): Promise<Conn> {
    const id = `${a.prefix}${a.start + i}`;
    const localAddress = a.localAddresses[i % a.localAddresses.length];
    const timeoutMs = a.connectTimeoutMs ?? 30_000;
    return new Promise<Conn>(async (resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connect timeout')), timeoutMs);
      const done = (c: Conn) => { clearTimeout(timer); resolve(c); };
      const fail = (e: unknown) => { clearTimeout(timer); reject(e); };
      try {
        if (a.mode === 'pcm-ws' || a.mode === 'raw-ws') {
          const headers = a.mode === 'pcm-ws' ? { authorization: `Bearer ${await mintTerminalToken(BENCH_JWT_SECRET, id)}` } : undefined;
          const ws = new WebSocket(a.url, { headers, localAddress, perMessageDeflate: false });
          let open = false;
          ws.on('message', (data) => {
            if (a.mode === 'raw-ws') return onFrame();
            const f = JSON.parse(String(data));
            if (f.type === 'welcome') {
              open = true;
              done({ close: () => ws.terminate() });
            } else if (f.type === 'message') {
              onFrame();
              ws.send(`{"type":"ack","seq":${f.seq}}`);
            }
          });
          ws.on('open', () => { if (a.mode === 'raw-ws') { open = true; done({ close: () => ws.terminate() }); } });
          ws.on('error', (e) => { if (!open) fail(e); else noteError(e); });
          ws.on('close', () => { if (open) closed++; });
        } else {
          const u = new URL(a.url);
          const stream = () => net.createConnection({ host: u.hostname, port: Number(u.port), localAddress, noDelay: true });
          const opts = a.mode === 'pcm-mqtt'
            ? { clientId: id, username: id, password: await mintTerminalToken(BENCH_JWT_SECRET, id), clean: true, keepalive: 300, reconnectPeriod: 0, protocolVersion: 4 as const }
            : { clientId: id, clean: true, keepalive: 300, reconnectPeriod: 0, protocolVersion: 4 as const };
          const client = new mqtt.MqttClient(stream, opts);
          let open = false;
          const topic = a.mode === 'pcm-mqtt' ? `pcm/t/${id}/messages` : `bench/${id}`;
          client.on('connect', () => {
            client.subscribe(topic, { qos: 1 }, (err) => {
              if (err) return fail(err);
              open = true;
              done({ close: () => client.end(true) });
            });
          });
          client.on('message', (_t, payload) => {
            onFrame();
            if (a.mode === 'pcm-mqtt') {
              const seq = JSON.parse(String(payload)).seq;
              client.publish(`pcm/t/${id}/ack`, `{"seq":${seq}}`, { qos: 0 });
            }
          });
          client.on('error', (e) => { if (!open) fail(e); else noteError(e); });
          client.on('close', () => { if (open) closed++; else fail(new Error('closed before connack')); });
        }
      } catch (e) {
        fail(e);
      }
    });
  }

  return {
    ready: { pid: process.pid },
    handlers: {
      /** Connect all `count` terminals, `concurrency` at a time; returns how many made it and how fast. */
      connect: async ({ budgetMs = 120_000 }: { budgetMs?: number }) => {
        const t0 = performance.now();
        let next = 0;
        let failed = 0;
        const worker = async () => {
          while (next < a.count && performance.now() - t0 < budgetMs) {
            const i = next++;
            try {
              conns.push(await connectOne(i));
            } catch (e) {
              failed++;
              noteError(e);
            }
          }
        };
        await Promise.all(Array.from({ length: a.concurrency ?? 50 }, worker));
        const ms = performance.now() - t0;
        return { connected: conns.length, failed, ms, perSec: conns.length / (ms / 1000), errors: Object.fromEntries(errors) };
      },
      stats: () => ({ received, open: conns.length - closed, closed, lastReceiveAt, errors: Object.fromEntries(errors) }),
      reset: () => { received = 0; return true; },
      /** Wait until `target` frames arrived (or the deadline); returns when the last one came. */
      waitReceived: async ({ target, timeoutMs }: { target: number; timeoutMs: number }) => {
        const t0 = performance.now();
        while (received < target && performance.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 20));
        return { received, sinceLastMs: performance.now() - lastReceiveAt };
      },
      mem: () => memoryAfterGc(),
    },
    close: () => { for (const c of conns) c.close(); },
  };
});
