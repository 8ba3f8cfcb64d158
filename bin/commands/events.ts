import type { Command } from 'commander';
import { PcmError, type ErrorCode } from '../../common/errors.js';
import { assertTerminalId } from '../../protocol/terminal-id.js';
import type { TerminalEvent } from '../../gateway/ports/timeline.js';
import { intOption, senderTarget } from './sender-cli.js';

/** A timeline event as the gateway's JSON returns it (the terminal id is the one asked for). */
type EventRow = Omit<TerminalEvent, 'terminalId' | 'type'> & { type: string };

/** One line per event, oldest first (reads like a log): `time  type  seq  details`. */
export function formatEvents(events: EventRow[]): string {
  return [...events]
    .reverse()
    .map((e) => {
      const details = [e.protocol, e.reason && `reason=${JSON.stringify(e.reason)}`, e.messageId && `msg=${e.messageId}`, e.correlationId && `corr=${e.correlationId}`, e.gatewayId && `gw=${e.gatewayId}`].filter(Boolean).join(' ');
      return `${new Date(e.at).toISOString()}  ${e.type.padEnd(12)} ${e.seq === undefined ? '-'.padEnd(6) : String(e.seq).padEnd(6)} ${details}`.trimEnd();
    })
    .join('\n');
}

/** `pcm events <terminalId>`: GET /v1/terminals/{id}/events (the terminal's timeline, issue 9). */
export function register(program: Command): void {
  program
    .command('events')
    .description('Show a terminal\'s recent timeline: connects, disconnects, sent, delivered, acked, expired, requests, replies (GET /v1/terminals/<id>/events).')
    .argument('<terminalId>', 'terminal id')
    .option('--limit <n>', 'most recent events to show, 1..1000 (default 100)')
    .option('--json', 'print the JSON response instead of one line per event')
    .option('--url <url>', 'gateway base URL (PCM_SENDER_URL, default http://127.0.0.1:8080)')
    .option('--api-key <key>', 'API key (PCM_API_KEY, else the pcm dev key in --data-dir)')
    .option('--data-dir <dir>', 'pcm dev data dir to read the API key from (PCM_DATA_DIR, default ./data)')
    .action(async (terminalId: string, opts: Record<string, string | boolean | undefined>) => {
      const { url, apiKey } = senderTarget(opts as Record<string, string | undefined>);
      const limit = intOption('--limit', opts.limit as string | undefined) ?? 100;
      const target = `${url}/v1/terminals/${encodeURIComponent(assertTerminalId(terminalId))}/events?limit=${limit}`;
      let res: Response;
      try {
        res = await fetch(target, { headers: { authorization: `Bearer ${apiKey}` } });
      } catch (err) {
        throw new PcmError('PCM_ERR_NOT_READY', `cannot reach ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
      }
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string; events?: EventRow[] };
      if (!res.ok) throw Object.assign(new Error(body.message ?? `HTTP ${res.status}`), { code: `${(body.code ?? 'PCM_ERR_INTERNAL') as ErrorCode} (HTTP ${res.status})` });
      if (opts.json) process.stdout.write(`${JSON.stringify(body)}\n`);
      else process.stdout.write(body.events && body.events.length > 0 ? `${formatEvents(body.events)}\n` : `no events for ${terminalId}\n`);
    });
}
