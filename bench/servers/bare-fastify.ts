/**
 * Baseline: a bare fastify app with the routes PCM's numbers are compared to:
 * POST /v1/terminals/:id/messages (validates nothing, stores nothing, answers 202; and if a
 * WebSocket client connected as that id, pushes it the message frame first: the bare
 * HTTP-in, WebSocket-out path of a send), GET /v1/discovery/:id (a fixed assignment), and
 * GET /v1/connect?id= (a plain `ws` upgrade that says `welcome` and ignores what it is sent).
 * No auth, no store, no rate limit, no logging.
 */
import Fastify from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { memoryAfterGc, serveChild } from '../lib/proc.js';

await serveChild(async () => {
  const app = Fastify({ logger: false });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const clients = new Map<string, WebSocket>();
  app.server.on('upgrade', (req, socket, head) => {
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? 'probe-ws';
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.set(id, ws);
      ws.on('close', () => clients.delete(id));
      ws.send(JSON.stringify({ type: 'welcome', terminalId: id }));
    });
  });
  let seq = 0;
  app.post('/v1/terminals/:id/messages', async (req, reply) => {
    const { id } = req.params as { id: string };
    const n = ++seq;
    const body = req.body as { payload?: unknown };
    clients.get(id)?.send(JSON.stringify({ type: 'message', seq: n, messageId: `m${n}`, payload: body?.payload, createdAt: Date.now() }));
    reply.code(202);
    return { terminalId: id, seq: n, messageId: `m${n}`, status: 'stored' };
  });
  app.get('/v1/discovery/:id', async (req) => {
    const { id } = req.params as { id: string };
    return { terminalId: id, gatewayId: 'gw-0', websocketUrl: 'ws://127.0.0.1:1/v1/connect', mqttUrl: 'mqtt://127.0.0.1:1', pollAfterSeconds: 60, generation: 1 };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  return { ready: { httpUrl: `http://127.0.0.1:${port}`, websocketUrl: `ws://127.0.0.1:${port}/v1/connect?id=probe-ws`, port, pid: process.pid }, handlers: { mem: () => memoryAfterGc() }, close: async () => { for (const c of clients.values()) c.terminate(); await app.close(); } };
});
