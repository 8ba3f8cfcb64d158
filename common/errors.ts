/**
 * Typed errors with stable codes (DESIGN.md section 7): callers branch on `code`,
 * never on message text. `status` is the HTTP status the sender API answers with;
 * `transient` tells retry loops (and senders) that trying again may succeed.
 */
export const ERROR_CATALOGUE = {
  PCM_ERR_BAD_REQUEST: { status: 400, transient: false, summary: 'The request or frame is malformed or fails validation.' },
  PCM_ERR_INVALID_TERMINAL_ID: { status: 400, transient: false, summary: 'Terminal ids are 1-128 characters of [A-Za-z0-9._:-].' },
  PCM_ERR_INVALID_TTL: { status: 400, transient: false, summary: 'ttlSeconds must be an integer between 0 and the configured maximum (default 2,419,200).' },
  PCM_ERR_UNAUTHORIZED: { status: 401, transient: false, summary: 'Missing, malformed or wrong credentials (API key or terminal JWT).' },
  PCM_ERR_TOKEN_EXPIRED: { status: 401, transient: false, summary: 'The terminal JWT has expired.' },
  PCM_ERR_FORBIDDEN: { status: 403, transient: false, summary: 'Authenticated, but not allowed (e.g. another terminal\'s topic, or client id differs from the token subject).' },
  PCM_ERR_NOT_FOUND: { status: 404, transient: false, summary: 'No such route or resource.' },
  PCM_ERR_PAYLOAD_TOO_LARGE: { status: 413, transient: false, summary: 'The payload exceeds the configured limit (PCM_MAX_PAYLOAD_BYTES).' },
  PCM_ERR_RATE_LIMITED: { status: 429, transient: true, summary: 'Too many requests for this API key; retry after the Retry-After header.' },
  PCM_ERR_QUEUE_FULL: { status: 429, transient: true, summary: 'The terminal already holds the most pending (unacked, unexpired) messages a gateway accepts for one terminal (PCM_MAX_PENDING_PER_TERMINAL); nothing was stored; retry once it has connected and acked.' },
  PCM_ERR_INTERNAL: { status: 500, transient: true, summary: 'Unexpected server error.' },
  PCM_ERR_UNREACHABLE: { status: 503, transient: true, summary: 'Terminal SDK only (never sent by a server): discovery or the gateway could not be reached (refused, reset, timed out, handshake timeout); the SDK retries with backoff.' },
  PCM_ERR_STORE_UNAVAILABLE: { status: 503, transient: true, summary: 'The message store could not durably accept the message; nothing was stored; retry.' },
  PCM_ERR_RELAY_UNAVAILABLE: { status: 503, transient: true, summary: 'The relay between gateways could not publish an event in time; the message stays in the store and is delivered on the next drain.' },
  PCM_ERR_NO_GATEWAY: { status: 503, transient: true, summary: 'Discovery has no gateway available to assign.' },
  PCM_ERR_NOT_READY: { status: 503, transient: true, summary: 'The process is starting or shutting down.' },
  PCM_ERR_OVERLOADED: { status: 503, transient: true, summary: 'Admission control refused the connection or request; retry after the hint.' },
  PCM_ERR_FLAPPING: { status: 503, transient: true, summary: 'This terminal connected too often (flapping detection, PCM_FLAP_MAX_CONNECTS per PCM_FLAP_WINDOW_SECONDS); stay away for the Retry-After hint, which doubles while it keeps flapping.' },
  PCM_ERR_REQUEST_TIMEOUT: { status: 504, transient: true, summary: 'The terminal did not reply to the request in time.' },
  PCM_ERR_UNKNOWN_FRAME: { status: 400, transient: false, summary: 'A terminal frame has an unknown type.' },
  PCM_ERR_FRAME_TOO_LARGE: { status: 413, transient: false, summary: 'A terminal frame exceeds the maximum frame size.' },
  PCM_ERR_INVALID_ACK: { status: 400, transient: false, summary: 'An ack names a sequence number that was never sent to this terminal.' },
  PCM_ERR_UNKNOWN_CORRELATION: { status: 400, transient: false, summary: 'A reply names a correlation id with no pending request.' },
  PCM_ERR_SESSION_TAKEN_OVER: { status: 409, transient: false, summary: 'The terminal connected again elsewhere; this session was closed.' },
  PCM_ERR_CONFIG: { status: 500, transient: false, summary: 'A configuration value is invalid.' },
  PCM_ERR_KUBE_API: { status: 502, transient: true, summary: 'The Kubernetes API refused or failed a request (details.status is its HTTP status; 409/429/5xx are transient).' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class PcmError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly transient: boolean;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'PcmError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.transient = ERROR_CATALOGUE[code].transient;
    this.details = options?.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

export function isPcmError(err: unknown, code?: ErrorCode): err is PcmError {
  return err instanceof PcmError && (code === undefined || err.code === code);
}

/** Wraps anything thrown by an adapter into a PcmError, keeping PcmErrors as they are. */
export function toPcmError(err: unknown, fallback: ErrorCode = 'PCM_ERR_INTERNAL'): PcmError {
  if (err instanceof PcmError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PcmError(fallback, message, { cause: err });
}
