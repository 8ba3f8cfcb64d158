import type { Command } from 'commander';
import { Type } from 'typebox';
import { pino } from 'pino';
import { loadConfig } from '../../common/config.js';
import { PcmError } from '../../common/errors.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { buildDiscoveryApp } from '../../discovery/http/app.js';
import { StaticGatewaySource } from '../../discovery/sources/static.js';
import { GatewayConfigSchema, loadGatewayConfig } from '../../gateway/config.js';
import { loadOrCreateDevSecrets } from '../../gateway/dev-secrets.js';
import { closeOnSignals, startGateway } from '../../gateway/main.js';
import { addConfigOptions, configTable } from './gateway.js';

const G = GatewayConfigSchema.properties;

/**
 * `pcm dev` settings: the gateway's schema with embedded defaults (bind 127.0.0.1, SQLite in
 * the data dir, in-process relay), secrets optional (generated), plus discovery's port.
 */
export const DevConfigSchema = Type.Object({
  ...G,
  host: Type.String({ default: '127.0.0.1', description: 'Address every listener binds (dev: loopback only).' }),
  terminalJwtSecret: Type.Optional(Type.String({ minLength: 16, description: 'HS256 secret for terminal JWTs; generated into the data dir when not given.' })),
  apiKeys: Type.Optional(Type.Array(Type.String({ minLength: 8 }), { minItems: 1, description: 'Sender API keys; one is generated into the data dir when not given.' })),
  discoveryPort: Type.Integer({ minimum: 0, maximum: 65535, default: 8081, description: 'Discovery HTTP port.' }),
  discoveryPollSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 60, description: 'pollAfterSeconds discovery gives terminals.' }),
});

const DEMO_TERMINAL = 'terminal-1';

/**
 * `pcm dev` (what `npm start` runs): the whole platform in one process on embedded
 * defaults (DESIGN.md section 1): gateway + discovery, SQLite store, in-process relay.
 */
export function register(program: Command): void {
  const cmd = program
    .command('dev')
    .summary('run gateway + discovery on this machine (what npm start runs)')
    .description(
      'Run PCM on this machine: gateway (WebSocket, MQTT, sender API) + discovery, SQLite store in the data dir.\n' +
        'Generates an API key and a terminal JWT secret into <data dir>/dev-secrets.json on first start, then prints\n' +
        'how to connect a terminal and send it a message.',
    );
  addConfigOptions(cmd, DevConfigSchema)
    .addHelpText('after', configTable(DevConfigSchema))
    .action(async (opts: Record<string, unknown>) => {
      const dev = loadConfig(DevConfigSchema, { flags: opts });
      // Logs to stderr: stdout carries the connection instructions.
      const logger = pino({ name: 'pcm', level: dev.logLevel, base: { service: 'dev' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
      let generated: ReturnType<typeof loadOrCreateDevSecrets> | undefined;
      if (!dev.terminalJwtSecret || !dev.apiKeys) generated = loadOrCreateDevSecrets(dev.dataDir);
      const { discoveryPort, discoveryPollSeconds, ...gatewayPart } = dev;
      // Already resolved from env and flags above: validate against the gateway schema alone.
      const config = loadGatewayConfig({
        env: {},
        flags: {
          ...gatewayPart,
          terminalJwtSecret: dev.terminalJwtSecret ?? generated!.secrets.terminalJwtSecret,
          apiKeys: dev.apiKeys ?? [generated!.secrets.apiKey],
        },
      });
      const gw = await startGateway(config, logger);
      const source = new StaticGatewaySource([{ id: config.gatewayId, websocketUrl: gw.websocketUrl, mqttUrl: gw.mqttUrl }]);
      const discovery = buildDiscoveryApp({ config: { terminalJwtSecret: config.terminalJwtSecret, discoveryPollSeconds }, source, logger });
      try {
        await discovery.listen({ host: config.host, port: discoveryPort });
      } catch (err) {
        await gw.close();
        throw new PcmError('PCM_ERR_CONFIG', `cannot listen for discovery on ${config.host}:${discoveryPort}: ${(err as Error).message} (use --discovery-port)`);
      }
      const dport = (discovery.server.address() as { port: number }).port;
      const discoveryUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${dport}`;
      const token = await mintTerminalToken(config.terminalJwtSecret, DEMO_TERMINAL, 24 * 3600);
      const apiKey = config.apiKeys[0]!;
      const dataDirFlag = config.dataDir === './data' ? '' : ` --data-dir ${config.dataDir}`;
      const urlFlag = gw.httpPort === 8080 ? '' : ` --url ${gw.httpUrl}`;
      const discFlag = dport === 8081 ? '' : ` --discovery-url ${discoveryUrl}`;
      const lines = [
        '',
        'PCM is running (pcm dev).',
        `  gateway    ${gw.httpUrl}  (sender API, WebSocket ${gw.websocketUrl}, MQTT over WebSocket /mqtt)`,
        `  mqtt       ${gw.mqttUrl}`,
        `  discovery  ${discoveryUrl}/v1/discovery/<terminalId>`,
        `  store      ${config.store}${config.store === 'sqlite' ? ` in ${config.dataDir}${gw.sqliteWriter ? ` (commits ${gw.sqliteWriter === 'inline' ? 'on the event loop' : 'in a writer thread'}: PCM_SQLITE_WRITER)` : ''}` : ''}, relay ${config.relay}`,
        '',
        generated ? `API key (${generated.created ? 'generated into' : 'from'} ${generated.file}):` : 'API key (from your configuration):',
        `  ${apiKey}`,
        `Terminal token for ${DEMO_TERMINAL} (24 h; mint more with: pcm token <terminalId>${dataDirFlag}):`,
        `  ${token}`,
        '',
        'Try it, in two more shells:',
        `  node bin/pcm.js terminal ${DEMO_TERMINAL} --token ${token}${discFlag}`,
        `  node bin/pcm.js send ${DEMO_TERMINAL} '{"hello":"world"}'${urlFlag}${dataDirFlag}`,
        'or with curl:',
        `  curl -s -X POST ${gw.httpUrl}/v1/terminals/${DEMO_TERMINAL}/messages -H 'Authorization: Bearer ${apiKey}' -H 'content-type: application/json' -d '{"payload":{"hello":"world"},"ttlSeconds":3600}'`,
        '',
        'Ctrl-C stops (terminals get a drain frame first).',
        '',
      ];
      process.stdout.write(lines.join('\n'));
      closeOnSignals(async () => {
        await discovery.close();
        await gw.close();
      }, logger);
    });
}
