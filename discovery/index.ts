/**
 * Discovery's public surface, for `pcm dev` and other in-process embedders:
 *
 *   const source = new StaticGatewaySource([{ id: 'dev', websocketUrl, mqttUrl }]);
 *   const app = buildDiscoveryApp({ config: { terminalJwtSecret, discoveryPollSeconds: 60 }, source, logger });
 *   await app.listen({ port: 8081, host: '0.0.0.0' });  // app.close() also closes the source
 */
export { buildDiscoveryApp, type BuildDiscoveryAppOptions, type DiscoveryResponse } from './http/app.js';
export { DiscoveryConfigSchema, loadDiscoveryConfig, type DiscoveryConfig } from './config.js';
export { startDiscovery, createGatewaySource, type RunningDiscovery } from './main.js';
export { assignGateway } from './core/assignment.js';
export { StaticGatewaySource } from './sources/static.js';
export { FileGatewaySource } from './sources/file.js';
export { parseGatewaySnapshot, parseGatewayList, freezeSnapshot } from './sources/snapshot.js';
export type { GatewaySource, GatewaySnapshot, GatewayEndpoint, KubeGatewaySourceFactory, KubeGatewaySourceOptions } from './sources/source.js';
