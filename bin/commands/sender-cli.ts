import { Type } from 'typebox';
import { loadConfig } from '../../common/config.js';
import { PcmError, type ErrorCode } from '../../common/errors.js';
import { readDevSecrets } from '../../gateway/dev-secrets.js';

/**
 * What `pcm send` and `pcm request` share: where the gateway is and which API key to use
 * (--api-key, PCM_API_KEY, else the key `pcm dev` generated into the data dir).
 */
export const SenderCliSchema = Type.Object({
  senderUrl: Type.String({ default: 'http://127.0.0.1:8080', description: 'Gateway base URL.' }),
  apiKey: Type.String({ default: '', description: 'Sender API key.' }),
  dataDir: Type.String({ default: './data', description: 'pcm dev data dir (API key fallback).' }),
});

export function senderTarget(opts: { url?: string; apiKey?: string; dataDir?: string }): { url: string; apiKey: string } {
  const c = loadConfig(SenderCliSchema, { flags: { senderUrl: opts.url, apiKey: opts.apiKey, dataDir: opts.dataDir } });
  const apiKey = c.apiKey || readDevSecrets(c.dataDir)?.apiKey;
  if (!apiKey) {
    throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: no API key: give --api-key or PCM_API_KEY (or run \`pcm dev\`, which writes one to ${c.dataDir}/dev-secrets.json)`);
  }
  return { url: c.senderUrl.replace(/\/+$/, ''), apiKey };
}

/** The payload argument: JSON if it parses, else the text as a JSON string. */
export function parsePayload(arg: string): unknown {
  try {
    return JSON.parse(arg);
  } catch {
    return arg;
  }
}

export function intOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new PcmError('PCM_ERR_BAD_REQUEST', `${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** POSTs JSON; a non-2xx answer becomes a PcmError with the server's code. */
export async function postJson(url: string, apiKey: string, body: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (err) {
    throw new PcmError('PCM_ERR_NOT_READY', `cannot reach ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let parsed: { code?: string; message?: string } | undefined;
  try {
    parsed = JSON.parse(text) as { code?: string; message?: string };
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const code = (parsed?.code ?? 'PCM_ERR_INTERNAL') as ErrorCode;
    throw Object.assign(new Error(parsed?.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}`), { code: `${code} (HTTP ${res.status})` });
  }
  return parsed ?? text;
}
