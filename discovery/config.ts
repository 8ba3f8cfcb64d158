import { Type, type Static } from 'typebox';
import { loadConfig, type LoadOptions } from '../common/config.js';

/**
 * The discovery process's configuration (DESIGN.md section 7: one TypeBox schema per
 * process, validated and frozen at start). Gateway set precedence: PCM_GATEWAYS_FILE,
 * then PCM_GATEWAYS_CONFIG_MAP (Kubernetes), then the static PCM_GATEWAYS list.
 */
export const DiscoveryConfigSchema = Type.Object({
  discoveryPort: Type.Integer({ minimum: 0, maximum: 65535, default: 8081, description: 'Discovery HTTP port.' }),
  discoveryHost: Type.String({ default: '0.0.0.0', description: 'Address the discovery HTTP server binds.' }),
  terminalJwtSecret: Type.String({ minLength: 16, description: 'HS256 secret terminal JWTs are verified with (same as the gateways\').' }),
  discoveryPollSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 60, description: 'pollAfterSeconds returned to terminals (and the Cache-Control max-age).' }),
  gatewaysFile: Type.String({ default: '', description: 'JSON file with the gateway set, reloaded when it changes.' }),
  gatewaysFilePollMs: Type.Integer({ minimum: 50, maximum: 600_000, default: 2000, description: 'Poll fallback interval for PCM_GATEWAYS_FILE.' }),
  gateways: Type.String({ default: '', description: 'Static gateway set: `id\\|websocketUrl\\|mqttUrl[\\|weight][\\|draining]`, comma-separated, or a JSON document.' }),
  gatewaysConfigMap: Type.String({ default: '', description: 'Kubernetes ConfigMap holding the gateway set (key `gateways.json`), watched.' }),
  kubeNamespace: Type.String({ default: 'default', description: 'Namespace of PCM_GATEWAYS_CONFIG_MAP.' }),
  logLevel: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], {
    default: 'info',
    description: 'pino log level.',
  }),
});

export type DiscoveryConfig = Static<typeof DiscoveryConfigSchema>;

export function loadDiscoveryConfig(opts: LoadOptions = {}): Readonly<DiscoveryConfig> {
  return loadConfig(DiscoveryConfigSchema, opts);
}
