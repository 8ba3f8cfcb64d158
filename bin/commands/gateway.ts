import type { Command } from 'commander';
import type { TObject, TSchema } from 'typebox';
import { describeConfig, envName, flagName } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { GatewayConfigSchema, loadGatewayConfig } from '../../gateway/config.js';
import { closeOnSignals, startGateway } from '../../gateway/main.js';

/**
 * One `--flag <value>` per schema property, so every setting is a flag as well as an env var
 * (issue 2 item 2). Commander camel-cases `--http-port` to `httpPort`: the schema key.
 */
export function addConfigOptions(cmd: Command, schema: TObject, skip: string[] = []): Command {
  for (const [key, prop] of Object.entries(schema.properties) as [string, TSchema & { description?: string; default?: unknown }][]) {
    if (skip.includes(key)) continue;
    const def = prop.default === undefined ? '' : `, default ${Array.isArray(prop.default) ? prop.default.join(',') || '(none)' : String(prop.default)}`;
    cmd.option(`${flagName(key)} <value>`, `${prop.description ?? key} (${envName(key)}${def})`);
  }
  return cmd;
}

export function configTable(schema: TObject): string {
  return '\nConfiguration (flag > env > default; every env var also accepts <NAME>_FILE):\n| env | flag | default | description |\n|---|---|---|---|\n' + describeConfig(schema).join('\n');
}

/** `pcm gateway`: one production-style gateway process, everything from flags or env. */
export function register(program: Command): void {
  const cmd = program
    .command('gateway')
    .summary('run one gateway (WebSocket, MQTT, sender API)')
    .description(
      'Run one gateway: WebSocket /v1/connect and MQTT over WebSocket /mqtt on the HTTP port, MQTT 3.1.1 on the MQTT port,\n' +
        'the sender API (POST /v1/terminals/{id}/messages, /requests, GET /v1/terminals/{id}), /healthz, /readyz, /metrics.\n' +
        'PCM_TERMINAL_JWT_SECRET and PCM_API_KEYS are required (prefer the env or *_FILE over flags for secrets).',
    );
  addConfigOptions(cmd, GatewayConfigSchema)
    .addHelpText('after', configTable(GatewayConfigSchema))
    .action(async (opts: Record<string, unknown>) => {
      const config = loadGatewayConfig({ flags: opts });
      const logger = createLogger('gateway', config.logLevel);
      const running = await startGateway(config, logger);
      closeOnSignals(() => running.close(), logger);
    });
}
