import { ERROR_CATALOGUE, PcmError, type ErrorCode } from '../common/errors.js';
import { MAX_UNREACHABLE_GATEWAYS } from '../protocol/gateway-id.js';

/** Discovery's answer (DESIGN.md section 5, "Discovery"). */
export interface Assignment {
  terminalId: string;
  gatewayId: string;
  websocketUrl: string;
  mqttUrl: string;
  pollAfterSeconds: number;
  generation: number;
}

/**
 * `GET <discoveryUrl>/v1/discovery/<terminalId>` with the terminal's JWT. Errors keep the
 * server's PCM_ERR_* code (503 PCM_ERR_NO_GATEWAY is transient: retry with backoff).
 * `unreachable`: gateways this terminal could not reach, sent as `?unreachable=a,b` (failover,
 * docs/discovery.md); a discovery without the extension ignores it and answers as before.
 */
export async function fetchAssignment(discoveryUrl: string, terminalId: string, token: string, timeoutMs: number, unreachable: readonly string[] = []): Promise<Assignment> {
  const query = unreachable.length > 0 ? `?unreachable=${encodeURIComponent(unreachable.slice(0, MAX_UNREACHABLE_GATEWAYS).join(','))}` : '';
  const url = `${discoveryUrl.replace(/\/+$/, '')}/v1/discovery/${encodeURIComponent(terminalId)}${query}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new PcmError('PCM_ERR_UNREACHABLE', `discovery request to ${url} failed: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* handled below */
  }
  if (res.status !== 200) {
    const code = typeof body.code === 'string' && body.code in ERROR_CATALOGUE ? (body.code as ErrorCode) : res.status >= 500 ? 'PCM_ERR_INTERNAL' : 'PCM_ERR_BAD_REQUEST';
    throw new PcmError(code, `discovery answered ${res.status}: ${typeof body.message === 'string' ? body.message : text.slice(0, 200)}`, { details: { status: res.status } });
  }
  if (
    body.terminalId !== terminalId ||
    typeof body.gatewayId !== 'string' ||
    typeof body.websocketUrl !== 'string' ||
    typeof body.mqttUrl !== 'string' ||
    typeof body.pollAfterSeconds !== 'number' ||
    typeof body.generation !== 'number'
  ) {
    throw new PcmError('PCM_ERR_INTERNAL', `discovery answered an unexpected body: ${text.slice(0, 200)}`);
  }
  return body as unknown as Assignment;
}
