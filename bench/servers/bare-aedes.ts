/** Baseline: `aedes` alone on a TCP port, no auth hooks, default in-memory persistence. */
import net from 'node:net';
import { Aedes } from 'aedes';
import { memoryAfterGc, serveChild } from '../lib/proc.js';

await serveChild(async () => {
  const broker = await Aedes.createBroker();
  // noDelay: a QoS 1 round trip is two server writes (PUBACK, then the forward); without it Nagle
  // and delayed ACKs add ~40 ms per hop and the baseline would flatter PCM.
  const server = net.createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    ready: { mqttUrl: `mqtt://127.0.0.1:${port}`, port, pid: process.pid },
    handlers: { mem: () => memoryAfterGc(), count: () => broker.connectedClients },
    close: () => new Promise<void>((r) => broker.close(() => server.close(() => r()))),
  };
});
