/**
 * Latency probe child: one connection, sequential round trips, timed in one process
 * (performance.now on both ends, so no cross-process clock skew).
 * - pcm-ws / pcm-mqtt: POST a message for its own terminal id, time until the frame arrives
 *   (send-to-receive, the store write included), ack it.
 * - raw-ws: send a frame to the bare `ws` echo server, time until the echo arrives.
 * - raw-mqtt: publish QoS 1 to its own topic on `aedes` alone, time until it comes back.
 */
import net from 'node:net';
import WebSocket from 'ws';
import mqtt from 'mqtt';
import { Pool } from 'undici';
import { mintTerminalToken } from '../../protocol/token.js';
import { serveChild } from '../lib/proc.js';
import { summarize } from '../lib/stats.js';
import { BENCH_API_KEY, BENCH_JWT_SECRET, BENCH_PAYLOAD } from '../lib/secrets.js';

type Mode = 'pcm-ws' | 'pcm-mqtt' | 'raw-ws' | 'raw-mqtt';

await serveChild(async ({ mode, url, httpUrl, id = 'probe-0' }: { mode: Mode; url: string; httpUrl?: string; id?: string }) => {
  let waiter: (() => void) | undefined;
  const arrived = () => { const w = waiter; waiter = undefined; w?.(); };
  let send: () => Promise<void>;
  let close: () => void;
  const body = JSON.stringify({ payload: BENCH_PAYLOAD, ttlSeconds: 60 });
  const pool = httpUrl ? new Pool(httpUrl, { connections: 1, keepAliveTimeout: 60_000 }) : undefined;
  const post = async () => {
    const res = await pool!.request({ method: 'POST', path: `/v1/terminals/${id}/messages`, headers: { authorization: `Bearer ${BENCH_API_KEY}`, 'content-type': 'application/json' }, body });
    await res.body.dump();
    if (res.statusCode !== 202) throw new Error(`send answered ${res.statusCode}`);
  };
  if (mode === 'pcm-ws' || mode === 'raw-ws') {
    const headers = mode === 'pcm-ws' ? { authorization: `Bearer ${await mintTerminalToken(BENCH_JWT_SECRET, id)}` } : undefined;
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('message', (data) => {
        if (mode === 'raw-ws') return arrived();
        const f = JSON.parse(String(data));
        if (f.type === 'welcome') resolve();
        else if (f.type === 'message') { ws.send(`{"type":"ack","seq":${f.seq}}`); arrived(); }
      });
      if (mode === 'raw-ws') ws.on('open', () => resolve());
    });
    const frame = JSON.stringify({ type: 'message', seq: 1, messageId: 'm', payload: BENCH_PAYLOAD, createdAt: Date.now(), expiresAt: Date.now() });
    send = mode === 'raw-ws' ? async () => ws.send(frame) : post;
    close = () => ws.terminate();
  } else {
    const opts = mode === 'pcm-mqtt'
      ? { clientId: id, username: id, password: await mintTerminalToken(BENCH_JWT_SECRET, id), clean: true, reconnectPeriod: 0, protocolVersion: 4 as const }
      : { clientId: id, clean: true, reconnectPeriod: 0, protocolVersion: 4 as const };
    // noDelay on the client socket too: a round trip writes PUBACK then the next PUBLISH, and
    // Nagle + delayed ACK would add ~40 ms to the baseline (PCM's probe writes one ack per send).
    const u = new URL(url);
    const client = new mqtt.MqttClient(() => net.createConnection({ host: u.hostname, port: Number(u.port), noDelay: true }), opts);
    await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
    const topic = mode === 'pcm-mqtt' ? `pcm/t/${id}/messages` : `bench/${id}`;
    await client.subscribeAsync(topic, { qos: 1 });
    client.on('message', (_t, payload) => {
      if (mode === 'pcm-mqtt') client.publish(`pcm/t/${id}/ack`, `{"seq":${JSON.parse(String(payload)).seq}}`, { qos: 0 });
      arrived();
    });
    const frame = JSON.stringify({ seq: 1, payload: BENCH_PAYLOAD });
    send = mode === 'raw-mqtt' ? async () => void client.publish(topic, frame, { qos: 1 }) : post;
    close = () => void client.end(true);
  }
  return {
    ready: { pid: process.pid },
    handlers: {
      run: async ({ count, durationMs, gapMs = 0 }: { count: number; durationMs: number; gapMs?: number }) => {
        const samples: number[] = [];
        const t0 = performance.now();
        let timeouts = 0;
        while (samples.length < count && performance.now() - t0 < durationMs) {
          const s = performance.now();
          const got = new Promise<boolean>((r) => {
            const t = setTimeout(() => { waiter = undefined; r(false); }, 5_000);
            waiter = () => { clearTimeout(t); r(true); };
          });
          await send();
          if (await got) samples.push(performance.now() - s);
          else timeouts++;
          if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
        }
        return { latency: summarize(samples), timeouts };
      },
    },
    close: async () => { close(); await pool?.close(); },
  };
});
