import type { Command } from 'commander';
import { assertTerminalId } from '../../protocol/terminal-id.js';
import { intOption, parsePayload, postJson, senderTarget } from './sender-cli.js';

/** `pcm send <terminalId> <payload>`: POST /v1/terminals/{id}/messages, prints the 202 body. */
export function register(program: Command): void {
  program
    .command('send')
    .description('Send a message to a terminal (POST /v1/terminals/<id>/messages) and print {terminalId, seq, messageId, status}.')
    .argument('<terminalId>', 'terminal id')
    .argument('<payload>', 'JSON payload (text that is not JSON is sent as a JSON string)')
    .option('--ttl <seconds>', 'ttlSeconds: 0 = deliver now or drop (default: the gateway\'s PCM_DEFAULT_TTL_SECONDS)')
    .option('--collapse-key <key>', 'a newer message with the same key replaces an undelivered older one')
    .option('--idempotency-key <key>', 'a retry with the same key returns the first result')
    .option('--url <url>', 'gateway base URL (PCM_SENDER_URL, default http://127.0.0.1:8080)')
    .option('--api-key <key>', 'API key (PCM_API_KEY, else the pcm dev key in --data-dir)')
    .option('--data-dir <dir>', 'pcm dev data dir to read the API key from (PCM_DATA_DIR, default ./data)')
    .action(async (terminalId: string, payload: string, opts: Record<string, string | undefined>) => {
      const { url, apiKey } = senderTarget(opts);
      const body: Record<string, unknown> = { payload: parsePayload(payload) };
      const ttl = intOption('--ttl', opts.ttl);
      if (ttl !== undefined) body.ttlSeconds = ttl;
      if (opts.collapseKey) body.collapseKey = opts.collapseKey;
      if (opts.idempotencyKey) body.idempotencyKey = opts.idempotencyKey;
      const res = await postJson(`${url}/v1/terminals/${encodeURIComponent(assertTerminalId(terminalId))}/messages`, apiKey, body);
      process.stdout.write(`${JSON.stringify(res)}\n`);
    });
}
