/** Bench child: the PCM discovery service (startDiscovery) over a static set of gateways. */
import { loadDiscoveryConfig } from '../../discovery/config.js';
import { startDiscovery } from '../../discovery/main.js';
import { memoryAfterGc, serveChild } from '../lib/proc.js';
import { BENCH_JWT_SECRET } from '../lib/secrets.js';

await serveChild(async ({ gateways = 6 }: { gateways?: number }) => {
  const set = Array.from({ length: gateways }, (_, i) => `gw-${i}|ws://127.0.0.1:${9000 + i}/v1/connect|mqtt://127.0.0.1:${10000 + i}`).join(',');
  const config = loadDiscoveryConfig({
    env: {},
    flags: { discoveryPort: '0', discoveryHost: '127.0.0.1', terminalJwtSecret: BENCH_JWT_SECRET, gateways: set, logLevel: 'warn' },
  });
  const running = await startDiscovery(config);
  return { ready: { httpUrl: running.url, pid: process.pid }, handlers: { mem: () => memoryAfterGc() }, close: () => running.close() };
});
