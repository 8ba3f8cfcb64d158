/**
 * Bench child: the PCM discovery service (startDiscovery), over a static set of (fake)
 * gateways, or, with `gatewaysFile`, over the operator's assignments document that the
 * scenario rewrites (the `storm` scenario: gateways die, drain and appear).
 */
import { loadDiscoveryConfig } from '../../discovery/config.js';
import { startDiscovery } from '../../discovery/main.js';
import { memoryAfterGc, serveChild } from '../lib/proc.js';
import { BENCH_JWT_SECRET } from '../lib/secrets.js';

await serveChild(async ({ gateways = 6, gatewaysFile, pollSeconds }: { gateways?: number; gatewaysFile?: string; pollSeconds?: number }) => {
  const set = Array.from({ length: gateways }, (_, i) => `gw-${i}|ws://127.0.0.1:${9000 + i}/v1/connect|mqtt://127.0.0.1:${10000 + i}`).join(',');
  const source = gatewaysFile ? { gatewaysFile, gatewaysFilePollMs: '200' } : { gateways: set };
  const config = loadDiscoveryConfig({
    env: {},
    flags: { discoveryPort: '0', discoveryHost: '127.0.0.1', terminalJwtSecret: BENCH_JWT_SECRET, logLevel: 'warn', ...source, ...(pollSeconds ? { discoveryPollSeconds: String(pollSeconds) } : {}) },
  });
  const running = await startDiscovery(config);
  return { ready: { httpUrl: running.url, pid: process.pid }, handlers: { mem: () => memoryAfterGc() }, close: () => running.close() };
});
