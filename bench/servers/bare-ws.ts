/**
 * Baseline: a bare `ws` server with no auth, no store, no session model (issue 2 "vs a raw
 * `ws`"). Echoes every message (round-trip baseline) and, on `blast`, pushes frames one way to
 * its connected clients round-robin (one-way throughput baseline), honouring socket backpressure.
 */
import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { memoryAfterGc, serveChild } from '../lib/proc.js';

await serveChild(async () => {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, path: '/v1/connect' });
  const clients: WebSocket[] = [];
  wss.on('connection', (ws) => {
    clients.push(ws);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', () => clients.splice(clients.indexOf(ws), 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    ready: { websocketUrl: `ws://127.0.0.1:${port}/v1/connect`, port, pid: process.pid },
    handlers: {
      mem: () => memoryAfterGc(),
      count: () => clients.length,
      /** Send `count` JSON frames shaped like PCM's message frame, round-robin over clients. */
      blast: async ({ count, payload }: { count: number; payload: unknown }) => {
        const t0 = performance.now();
        for (let i = 0; i < count; i++) {
          const ws = clients[i % clients.length]!;
          ws.send(JSON.stringify({ type: 'message', seq: i + 1, messageId: `m${i}`, payload, createdAt: Date.now(), expiresAt: Date.now() + 60_000 }));
          // Backpressure: let the socket drain instead of buffering without bound.
          if (i % 256 === 255 && ws.bufferedAmount > 1 << 20) await new Promise((r) => setImmediate(r));
          if (i % 1024 === 1023) await new Promise((r) => setImmediate(r));
        }
        return { sendMs: performance.now() - t0 };
      },
    },
    close: () => new Promise<void>((r) => { for (const c of clients) c.terminate(); wss.close(); server.close(() => r()); }),
  };
});
