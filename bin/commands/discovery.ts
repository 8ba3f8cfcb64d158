import type { Command } from 'commander';
import { describeConfig } from '../../common/config.js';
import { DiscoveryConfigSchema, loadDiscoveryConfig } from '../../discovery/config.js';
import { startDiscovery } from '../../discovery/main.js';

/** `pcm discovery`: the discovery service alone (DESIGN.md section 1). */
export function register(program: Command): void {
  program
    .command('discovery')
    .description(
      'Run the discovery service: terminals GET /v1/discovery/<terminalId> with their JWT and learn their gateway.\n' +
        'Gateway set from --gateways-file (reloaded on change), --gateways, or a Kubernetes ConfigMap.',
    )
    .option('--discovery-port <port>', 'HTTP port (PCM_DISCOVERY_PORT, default 8081)')
    .option('--discovery-host <host>', 'bind address (PCM_DISCOVERY_HOST, default 0.0.0.0)')
    .option('--terminal-jwt-secret <secret>', 'HS256 secret for terminal JWTs (PCM_TERMINAL_JWT_SECRET; prefer the env or PCM_TERMINAL_JWT_SECRET_FILE)')
    .option('--discovery-poll-seconds <s>', 'pollAfterSeconds given to terminals (PCM_DISCOVERY_POLL_SECONDS, default 60)')
    .option('--gateways-file <path>', 'JSON gateway set file, reloaded when it changes (PCM_GATEWAYS_FILE)')
    .option('--gateways-file-poll-ms <ms>', 'poll fallback for the gateway file (PCM_GATEWAYS_FILE_POLL_MS, default 2000)')
    .option('--gateways <list>', 'static set: id|websocketUrl|mqttUrl[|weight][|draining], comma-separated (PCM_GATEWAYS)')
    .option('--gateways-config-map <name>', 'Kubernetes ConfigMap with the gateway set (PCM_GATEWAYS_CONFIG_MAP)')
    .option('--kube-namespace <ns>', 'namespace of that ConfigMap (PCM_KUBE_NAMESPACE)')
    .option('--log-level <level>', 'pino log level (PCM_LOG_LEVEL, default info)')
    .addHelpText('after', '\nConfiguration (flag > env > default):\n| env | flag | default | description |\n|---|---|---|---|\n' + describeConfig(DiscoveryConfigSchema).join('\n'))
    .action(async (opts: Record<string, string | undefined>) => {
      const config = loadDiscoveryConfig({
        flags: {
          discoveryPort: opts.discoveryPort,
          discoveryHost: opts.discoveryHost,
          terminalJwtSecret: opts.terminalJwtSecret,
          discoveryPollSeconds: opts.discoveryPollSeconds,
          gatewaysFile: opts.gatewaysFile,
          gatewaysFilePollMs: opts.gatewaysFilePollMs,
          gateways: opts.gateways,
          gatewaysConfigMap: opts.gatewaysConfigMap,
          kubeNamespace: opts.kubeNamespace,
          logLevel: opts.logLevel,
        },
      });
      const running = await startDiscovery(config);
      process.stdout.write(`discovery listening on ${running.url}\n`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        running.app.log.info({ signal }, 'discovery shutting down');
        running.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`pcm discovery: close failed: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
