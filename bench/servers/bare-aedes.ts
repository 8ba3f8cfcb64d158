/** Baseline: `aedes` alone on a TCP port, no auth hooks, default in-memory persistence. */
import net from 'node:net';
import { Aedes } from 'aedes';
import { memoryAfterGc, serveChild } from '../lib/proc.js';

await serveChild(async () => {
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    ready: { mqttUrl: `mqtt://127.0.0.1:${port}`, port, pid: process.pid },
    handlers: { mem: () => memoryAfterGc(), count: () => broker.connectedClients },
    close: () => new Promise<void>((r) => broker.close(() => server.close(() => r()))),
  };
});
