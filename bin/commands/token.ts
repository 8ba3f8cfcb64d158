import type { Command } from 'commander';
import { Type } from 'typebox';
import { loadConfig } from '../../common/config.js';
import { PcmError } from '../../common/errors.js';
import { mintTerminalToken } from '../../protocol/token.js';
import { assertTerminalId } from '../../protocol/terminal-id.js';
import { readDevSecrets } from '../../gateway/dev-secrets.js';

const TokenCliSchema = Type.Object({
  terminalJwtSecret: Type.String({ default: '' }),
  dataDir: Type.String({ default: './data' }),
});

/** `pcm token <terminalId>`: mints a terminal JWT (HS256, sub = terminal id, exp). */
export function register(program: Command): void {
  program
    .command('token')
    .description('Mint a terminal JWT (HS256, sub = terminal id) and print it.')
    .argument('<terminalId>', 'terminal id (the token subject)')
    .option('--ttl <seconds>', 'lifetime in seconds', '86400')
    .option('--secret <secret>', 'HS256 secret (PCM_TERMINAL_JWT_SECRET / _FILE, else the pcm dev secret in --data-dir)')
    .option('--data-dir <dir>', 'pcm dev data dir (PCM_DATA_DIR, default ./data)')
    .action(async (terminalId: string, opts: Record<string, string | undefined>) => {
      const id = assertTerminalId(terminalId);
      const ttl = Number(opts.ttl);
      if (!Number.isInteger(ttl) || ttl <= 0) throw new PcmError('PCM_ERR_BAD_REQUEST', `--ttl must be a positive integer number of seconds, got ${JSON.stringify(opts.ttl)}`);
      const c = loadConfig(TokenCliSchema, { flags: { terminalJwtSecret: opts.secret, dataDir: opts.dataDir } });
      const secret = c.terminalJwtSecret || readDevSecrets(c.dataDir)?.terminalJwtSecret;
      if (!secret) {
        throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: no secret: give --secret or PCM_TERMINAL_JWT_SECRET (or run \`pcm dev\`, which writes one to ${c.dataDir}/dev-secrets.json)`);
      }
      process.stdout.write(`${await mintTerminalToken(secret, id, ttl)}\n`);
    });
}
