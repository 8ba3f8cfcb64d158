/**
 * Baseline: a bare fastify app with the two routes PCM's numbers are compared to:
 * POST /v1/terminals/:id/messages (validates nothing, stores nothing, answers 202) and
 * GET /v1/discovery/:id (answers a fixed assignment). No auth, no rate limit, no logging.
 */
import Fastify from 'fastify';
import { memoryAfterGc, serveChild } from '../lib/proc.js';

await serveChild(async () => {
  const app = Fastify({ logger: false });
  let seq = 0;
  app.post('/v1/terminals/:id/messages', async (req, reply) => {
    const { id } = req.params as { id: string };
    reply.code(202);
    return { terminalId: id, seq: ++seq, messageId: `m${seq}`, status: 'stored' };
  });
  app.get('/v1/discovery/:id', async (req) => {
    const { id } = req.params as { id: string };
    return { terminalId: id, gatewayId: 'gw-0', websocketUrl: 'ws://127.0.0.1:1/v1/connect', mqttUrl: 'mqtt://127.0.0.1:1', pollAfterSeconds: 60, generation: 1 };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  return { ready: { httpUrl: `http://127.0.0.1:${port}`, port, pid: process.pid }, handlers: { mem: () => memoryAfterGc() }, close: () => app.close() };
});
