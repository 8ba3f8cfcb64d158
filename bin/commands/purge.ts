import type { Command } from 'commander';
import { Type } from 'typebox';
import { loadConfig } from '../../common/config.js';
import { PcmError, type ErrorCode } from '../../common/errors.js';
import { assertTerminalId } from '../../protocol/terminal-id.js';

/** Where the gateway is and the admin key (PCM_ADMIN_KEY): Mission Control's API, not the sender API. */
const PurgeCliSchema = Type.Object({
  senderUrl: Type.String({ default: 'http://127.0.0.1:8080', description: 'Gateway base URL.' }),
  adminKey: Type.String({ default: '', description: 'Admin key (one of the gateway\'s PCM_ADMIN_KEYS).' }),
});

async function adminCall(method: 'GET' | 'DELETE', url: string, adminKey: string): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, { method, headers: { authorization: `Bearer ${adminKey}` } });
  } catch (err) {
    throw new PcmError('PCM_ERR_NOT_READY', `cannot reach ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw Object.assign(new Error(String(body.message ?? `HTTP ${res.status}`)), { code: `${(body.code ?? 'PCM_ERR_INTERNAL') as ErrorCode} (HTTP ${res.status})` });
  return body;
}

/**
 * `pcm purge <terminalId> --yes`: DELETE /v1/admin/terminals/{id}/messages (docs/mission-control.md).
 * Without --yes it only shows what would be purged.
 */
export function register(program: Command): void {
  program
    .command('purge')
    .description('Purge a terminal\'s pending messages: ack them on its behalf so none is delivered (DELETE /v1/admin/terminals/<id>/messages, admin key). Without --yes, only shows how many are pending.')
    .argument('<terminalId>', 'terminal id')
    .option('--yes', 'really purge (messages accepted after the purge starts are kept)')
    .option('--url <url>', 'gateway base URL (PCM_SENDER_URL, default http://127.0.0.1:8080)')
    .option('--admin-key <key>', 'admin key, one of the gateway\'s PCM_ADMIN_KEYS (PCM_ADMIN_KEY)')
    .action(async (terminalId: string, opts: { yes?: boolean; url?: string; adminKey?: string }) => {
      const c = loadConfig(PurgeCliSchema, { flags: { senderUrl: opts.url, adminKey: opts.adminKey } });
      if (!c.adminKey) throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: no admin key: give --admin-key or PCM_ADMIN_KEY (one of the gateway\'s PCM_ADMIN_KEYS)');
      const base = `${c.senderUrl.replace(/\/+$/, '')}/v1/admin/terminals/${encodeURIComponent(assertTerminalId(terminalId))}`;
      if (!opts.yes) {
        const p = await adminCall('GET', base, c.adminKey);
        process.stdout.write(`${terminalId}: ${String(p.pending)} pending message(s), ack cursor at ${String(p.lastAckedSeq)}, ${p.online ? `online on ${String(p.gatewayId)}` : 'offline'}\nnothing purged: run again with --yes to purge them\n`);
        return;
      }
      const r = await adminCall('DELETE', `${base}/messages`, c.adminKey);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    });
}
