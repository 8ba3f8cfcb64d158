import { Type, type Static } from 'typebox';
import { loadConfig, type LoadOptions } from '../common/config.js';
import { CLIENT_PROFILES } from '../protocol/frames.js';

/**
 * Settings of the simulated terminal (`pcm terminal`), one TypeBox schema like every
 * process (DESIGN.md section 7). Token: --token / PCM_TERMINAL_TOKEN, else minted from
 * --secret / PCM_TERMINAL_JWT_SECRET(_FILE). Names carry a TERMINAL/GATEWAY prefix so a
 * shell set up for `pcm dev` (PCM_LOG_LEVEL …) does not change the terminal. `flag` names the
 * command's shorter flag, so a bad value's error names the flag the user typed.
 */
export const TerminalConfigSchema = Type.Object({
  terminalToken: Type.String({ flag: '--token', default: '', description: 'Terminal JWT to present.' }),
  terminalJwtSecret: Type.String({ flag: '--secret', default: '', description: 'Mint a token with this HS256 secret when no token is given (dev only).' }),
  discoveryUrl: Type.String({ default: 'http://127.0.0.1:8081', pattern: '^https?://', description: 'Discovery base URL.' }),
  gatewayUrl: Type.String({ flag: '--url', default: '', pattern: '^((wss?|mqtts?)://.*)?$', description: 'Direct gateway URL (ws://…/v1/connect or mqtt://…), skipping discovery.' }),
  terminalProtocol: Type.Union([Type.Literal('websocket'), Type.Literal('mqtt')], { flag: '--protocol', default: 'websocket', description: 'Transport.' }),
  terminalProfile: Type.Union(CLIENT_PROFILES.map((p) => Type.Literal(p)), { flag: '--profile', default: 'normal', description: 'Heartbeat and reconnect profile.' }),
  terminalDataDir: Type.String({ flag: '--data-dir', default: './data/terminals', description: 'Where the duplicate filter state is kept (one file per terminal).' }),
  terminalLogLevel: Type.String({ flag: '--log-level', default: 'warn', description: 'pino log level for the client.' }),
  terminalFailoverAfter: Type.Integer({ flag: '--failover-after', default: 2, minimum: 0, maximum: 100, description: 'Fail over to the next gateway after this many attempts in a row that cannot reach the assigned one; 0 = never (docs/client.md, "Failover").' }),
  terminalFailoverAvoidSeconds: Type.Integer({ flag: '--failover-avoid-seconds', default: 60, minimum: 1, maximum: 86_400, description: 'How long a gateway that failed over is avoided before following the assignment back (doubling on repeats, at most 16x).' }),
});
export type TerminalConfig = Static<typeof TerminalConfigSchema>;

export function loadTerminalConfig(opts: LoadOptions = {}): Readonly<TerminalConfig> {
  return loadConfig(TerminalConfigSchema, opts);
}
