/**
 * Bench child: one PCM gateway through the same entry point as `pcm gateway` (startGateway),
 * plus IPC commands the CLI cannot offer: `mem` (RSS after GC), `heap` (a heap snapshot) and
 * `allocStart` / `allocStop` (a sampling allocation profile that keeps the objects the GC already
 * collected, so it shows what the hot path allocates, not only what it retains;
 * bench/alloc-top.ts summarizes it per delivered message).
 * args: flags for loadGatewayConfig (httpPort/mqttPort 0 = ephemeral).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { loadGatewayConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/main.js';
import { createLogger } from '../../common/logger.js';
import { memoryAfterGc, serveChild } from '../lib/proc.js';
import { BENCH_API_KEY, BENCH_JWT_SECRET } from '../lib/secrets.js';

let inspector: Session | undefined;

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
      // PCM_BENCH_SQLITE_WRITER=inline|thread pins where SQLite commits run (default: auto, as shipped)
      ...(process.env.PCM_BENCH_SQLITE_WRITER && { sqliteWriter: process.env.PCM_BENCH_SQLITE_WRITER }),
      ...Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, String(v)])),
    },
  });
  const running = await startGateway(config, createLogger('gateway', config.logLevel));
  return {
    ready: { httpUrl: running.httpUrl, websocketUrl: running.websocketUrl, mqttUrl: running.mqttUrl, httpPort: running.httpPort, mqttPort: running.mqttPort, pid: process.pid, sqliteWriter: running.sqliteWriter },
    // heap: a V8 heap snapshot into dir (bench/heap-top.ts summarizes it by constructor)
    handlers: {
      mem: () => memoryAfterGc(),
      heap: ({ dir }: { dir: string }) => ({ file: writeHeapSnapshot(path.join(dir, `gateway-${process.pid}-${Date.now()}.heapsnapshot`)) }),
      allocStart: async ({ intervalBytes = 4096 }: { intervalBytes?: number }) => {
        inspector ??= new Session();
        inspector.connect();
        await inspector.post('HeapProfiler.startSampling', { samplingInterval: intervalBytes, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
        return true;
      },
      allocStop: async ({ file }: { file: string }) => {
        if (!inspector) throw new Error('allocStart first');
        const { profile } = await inspector.post('HeapProfiler.stopSampling');
        inspector.disconnect();
        writeFileSync(file, JSON.stringify(profile));
        return { file };
      },
    },
    close: () => running.close(),
  };
});
