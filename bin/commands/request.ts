import type { Command } from 'commander';
import { assertTerminalId } from '../../protocol/terminal-id.js';
import { intOption, parsePayload, postJson, senderTarget } from './sender-cli.js';

/** `pcm request <terminalId> <payload>`: POST /v1/terminals/{id}/requests, prints {seq, reply, latencyMs}. */
export function register(program: Command): void {
  program
    .command('request')
    .description('Send a request and wait for the terminal\'s reply (POST /v1/terminals/<id>/requests); exits 1 on 504 timeout.')
    .argument('<terminalId>', 'terminal id')
    .argument('<payload>', 'JSON payload (text that is not JSON is sent as a JSON string)')
    .option('--timeout <ms>', 'how long to wait for the reply, 1..60000 ms (default: the gateway\'s, 10000)')
    .option('--url <url>', 'gateway base URL (PCM_SENDER_URL, default http://127.0.0.1:8080)')
    .option('--api-key <key>', 'API key (PCM_API_KEY, else the pcm dev key in --data-dir)')
    .option('--data-dir <dir>', 'pcm dev data dir to read the API key from (PCM_DATA_DIR, default ./data)')
    .action(async (terminalId: string, payload: string, opts: Record<string, string | undefined>) => {
      const { url, apiKey } = senderTarget(opts);
      const body: Record<string, unknown> = { payload: parsePayload(payload) };
      const timeout = intOption('--timeout', opts.timeout);
      if (timeout !== undefined) body.timeoutMs = timeout;
      const res = await postJson(`${url}/v1/terminals/${encodeURIComponent(assertTerminalId(terminalId))}/requests`, apiKey, body);
      process.stdout.write(`${JSON.stringify(res)}\n`);
    });
}
