/**
 * Bench child: one PCM gateway through the same entry point as `pcm gateway` (startGateway),
 * plus an IPC `mem` command (RSS after GC) the CLI cannot offer.
 * args: flags for loadGatewayConfig (httpPort/mqttPort 0 = ephemeral).
 */
import path from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { loadGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/main.js';
import { createLogger } from '../../common/logger.js';
import { memoryAfterGc, serveChild } from '../lib/proc.js';
import { BENCH_API_KEY, BENCH_JWT_SECRET } from '../lib/secrets.js';

await serveChild(async (flags: Record<string, unknown>) => {
  const config = loadGatewayConfig({
    env: {},
    flags: {
      host: '127.0.0.1',
      httpPort: '0',
      mqttPort: '0',
      terminalJwtSecret: BENCH_JWT_SECRET,
      apiKeys: BENCH_API_KEY,
      // The bench measures the engine, not the per-key limiter (6,000/min by default).
      rateLimitPerMinute: '100000000',
      logLevel: 'warn',
      ...Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, String(v)])),
    },
  });
  const running = await startGateway(config, createLogger('gateway', config.logLevel));
  return {
    ready: { httpUrl: running.httpUrl, websocketUrl: running.websocketUrl, mqttUrl: running.mqttUrl, httpPort: running.httpPort, mqttPort: running.mqttPort, pid: process.pid },
    // heap: a V8 heap snapshot into dir (bench/heap-top.ts summarizes it by constructor)
    handlers: { mem: () => memoryAfterGc(), heap: ({ dir }: { dir: string }) => ({ file: writeHeapSnapshot(path.join(dir, `gateway-${process.pid}-${Date.now()}.heapsnapshot`)) }) },
    close: () => running.close(),
  };
});
