import type { Command } from 'commander';
import { PcmError } from '../../common/errors.js';
import { pino } from 'pino';
import { mintTerminalToken } from '../../protocol/token.js';
import { assertTerminalId } from '../../protocol/terminal-id.js';
import { PcmClient } from '../../client/client.js';
import { FileDuplicateStore } from '../../client/file-duplicate-store.js';
import { loadTerminalConfig } from '../../client/terminal-config.js';

/**
 * `pcm terminal <terminalId>`: a simulated terminal built on the SDK (client/). Prints every
 * message it handles (one line each, or JSON lines with --json), acks it, and answers
 * requests with `{"ok":true,"seq":…}` (or --reply's JSON).
 */
export function register(program: Command): void {
  program
    .command('terminal')
    .description('Run a simulated terminal: discover its gateway, connect, print and ack every message, answer requests.')
    .argument('<terminalId>', 'terminal id (the token subject)')
    .option('--token <jwt>', 'terminal JWT (PCM_TERMINAL_TOKEN; else minted from --secret)')
    .option('--secret <secret>', 'HS256 secret to mint a token with (PCM_TERMINAL_JWT_SECRET / _FILE)')
    .option('--discovery-url <url>', 'discovery base URL (PCM_DISCOVERY_URL, default http://127.0.0.1:8081)')
    .option('--url <url>', 'connect directly to this gateway URL, skipping discovery: ws://host:8080/v1/connect or mqtt://host:1883 (PCM_GATEWAY_URL)')
    .option('--protocol <protocol>', 'websocket or mqtt (PCM_TERMINAL_PROTOCOL, default websocket)')
    .option('--profile <profile>', 'aggressive, normal or passive (PCM_TERMINAL_PROFILE, default normal)')
    .option('--data-dir <dir>', 'duplicate-filter state directory (PCM_TERMINAL_DATA_DIR, default ./data/terminals)')
    .option('--reply <json>', 'payload to answer requests with (default {"ok":true,"seq":<seq>})')
    .option('--handle-ms <ms>', 'simulated processing time per message before the ack', '0')
    .option('--count <n>', 'exit after handling this many messages')
    .option('--json', 'print one JSON object per event')
    .option('--log-level <level>', 'client log level (PCM_TERMINAL_LOG_LEVEL, default warn)')
    .option('--failover-after <n>', 'fail over to the next gateway after n attempts in a row that cannot reach the assigned one; 0 = never (PCM_TERMINAL_FAILOVER_AFTER, default 2)')
    .option('--failover-avoid-seconds <s>', 'avoid a gateway that failed over this long before following the assignment back (PCM_TERMINAL_FAILOVER_AVOID_SECONDS, default 60)')
    .action(async (terminalIdArg: string, opts: Record<string, string | boolean | undefined>) => {
      const terminalId = assertTerminalId(terminalIdArg);
      const config = loadTerminalConfig({
        flags: {
          terminalToken: opts.token,
          terminalJwtSecret: opts.secret,
          discoveryUrl: opts.discoveryUrl,
          gatewayUrl: opts.url,
          terminalProtocol: opts.protocol,
          terminalProfile: opts.profile,
          terminalDataDir: opts.dataDir,
          terminalLogLevel: opts.logLevel,
          terminalFailoverAfter: opts.failoverAfter,
          terminalFailoverAvoidSeconds: opts.failoverAvoidSeconds,
        },
      });
      let token = config.terminalToken;
      if (!token) {
        if (!config.terminalJwtSecret) {
          throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: give --token, or --secret / PCM_TERMINAL_JWT_SECRET to mint one (`pcm dev` prints a ready token)');
        }
        token = await mintTerminalToken(config.terminalJwtSecret, terminalId);
      }
      let replyPayload: unknown;
      if (typeof opts.reply === 'string') {
        try {
          replyPayload = JSON.parse(opts.reply);
        } catch {
          throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: --reply is not valid JSON: ${opts.reply}`);
        }
      }
      const handleMs = Number(opts.handleMs ?? 0);
      const count = opts.count === undefined ? Infinity : Number(opts.count);
      if (!(handleMs >= 0) || !(count > 0)) throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: --handle-ms must be >= 0 and --count > 0');
      const json = opts.json === true;
      const out = (event: string, data: Record<string, unknown>, text: string) =>
        process.stdout.write(json ? `${JSON.stringify({ event, at: new Date().toISOString(), ...data })}\n` : `${text}\n`);

      let handled = 0;
      const client = new PcmClient({
        terminalId,
        token,
        protocol: config.terminalProtocol,
        profile: config.terminalProfile,
        ...(config.gatewayUrl ? { url: config.gatewayUrl } : { discoveryUrl: config.discoveryUrl }),
        duplicateStore: new FileDuplicateStore(config.terminalDataDir),
        failoverAfter: config.terminalFailoverAfter,
        failoverAvoidMs: config.terminalFailoverAvoidSeconds * 1000,
        // Logs to stderr: stdout carries the terminal's own output (one line or JSON object per event).
        logger: pino({ name: 'pcm', level: config.terminalLogLevel, base: { service: 'terminal' } }, pino.destination(2)),
        handler: async (m) => {
          if (handleMs > 0) await new Promise((r) => setTimeout(r, handleMs));
          out('message', { ...m }, `message seq=${m.seq} id=${m.messageId}${m.correlationId ? ` request=${m.correlationId}` : ''} payload=${JSON.stringify(m.payload)}`);
          return m.correlationId ? (replyPayload ?? { ok: true, seq: m.seq }) : undefined;
        },
      });
      let stopping = false;
      const stop = async (code: number) => {
        if (stopping) return;
        stopping = true;
        await client.stop();
        process.exit(code);
      };
      client.on('message', () => {
        // stop() lets the running handler finish and sends its ack before closing
        if (++handled >= count) setImmediate(() => void stop(0));
      });
      client.on('connected', (i) =>
        out('connected', { ...i }, `connected to ${i.gatewayId ?? i.url} over ${i.protocol}${i.sessionId ? ` (session ${i.sessionId})` : ''}`),
      );
      client.on('disconnected', (d) => out('disconnected', d, `disconnected: ${d.reason}`));
      client.on('drain', (d) => out('drain', d, `drain: ${d.reason}, reconnecting after ${d.reconnectAfterMs} ms`));
      client.on('failover', (f) => out('failover', f, `gateway ${f.gatewayId} unreachable ${f.failures} times in a row: asking discovery for another one (avoiding it for ${f.avoidMs} ms)`));
      client.on('reconnecting', (r) => out('reconnecting', r, `reconnecting in ${r.delayMs} ms (attempt ${r.attempt}): ${r.reason}`));
      client.on('duplicate', (d) => out('duplicate', d, `duplicate seq=${d.seq} (already handled; acked again)`));
      client.on('epochReset', (e) => out('epochReset', e, `server counter epoch changed to ${e.epoch}; duplicate filter reset`));
      client.on('error', (e) => out('error', { code: e.code, message: e.message }, `error ${e.code}: ${e.message}`));
      process.once('SIGINT', () => void stop(0));
      process.once('SIGTERM', () => void stop(0));
      await client.start();
      out('started', { terminalId, protocol: config.terminalProtocol }, `terminal ${terminalId} starting (${config.terminalProtocol}, ${config.terminalProfile})`);
    });
}
