import type { FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '../common/logger.js';
import { PcmError } from '../common/errors.js';
import type { DiscoveryConfig } from './config.js';
import { buildDiscoveryApp } from './http/app.js';
import { FileGatewaySource } from './sources/file.js';
import { StaticGatewaySource } from './sources/static.js';
import type { GatewaySource } from './sources/source.js';

/**
 * Wiring only (DESIGN.md section 7, "main.ts wires"): config -> gateway source -> app -> listen.
 */
export async function createGatewaySource(config: Readonly<DiscoveryConfig>, logger: Logger): Promise<GatewaySource> {
  if (config.gatewaysFile) {
    return new FileGatewaySource({ path: config.gatewaysFile, pollMs: config.gatewaysFilePollMs, logger });
  }
  if (config.gatewaysConfigMap) {
    // Loaded lazily: @kubernetes/client-node is only needed in a cluster.
    const mod = await import('./sources/kube.js');
    return mod.createKubeGatewaySource({ namespace: config.kubeNamespace, configMapName: config.gatewaysConfigMap, key: 'gateways.json', logger });
  }
  if (config.gateways) return StaticGatewaySource.fromList(config.gateways);
  throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: no gateway set: give PCM_GATEWAYS_FILE (--gateways-file), PCM_GATEWAYS (--gateways) or PCM_GATEWAYS_CONFIG_MAP', {
    details: { field: 'gateways', env: 'PCM_GATEWAYS' },
  });
}

export interface RunningDiscovery {
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:8081 */
  url: string;
  close(): Promise<void>;
}

export async function startDiscovery(config: Readonly<DiscoveryConfig>, logger = createLogger('discovery', config.logLevel)): Promise<RunningDiscovery> {
  const source = await createGatewaySource(config, logger);
  const app = buildDiscoveryApp({ config, source, logger, defaultMetrics: true });
  await source.ready();
  const address = await app.listen({ port: config.discoveryPort, host: config.discoveryHost });
  const snap = source.current();
  logger.info({ address, generation: snap.generation, gateways: snap.gateways.length }, 'discovery listening');
  const port = (app.server.address() as { port: number }).port;
  const host = config.discoveryHost === '0.0.0.0' || config.discoveryHost === '::' ? '127.0.0.1' : config.discoveryHost;
  return { app, url: `http://${host}:${port}`, close: () => app.close() };
}
