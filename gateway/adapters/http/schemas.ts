import { Type } from 'typebox';
import { TERMINAL_ID_PATTERN } from '../../../protocol/terminal-id.js';
import { documentAs } from './openapi.js';

/**
 * Sender API schemas (DESIGN.md section 5). The terminal id, `ttlSeconds` and `timeoutMs` are
 * checked in the handler instead, so a bad value gets its own stable code
 * (PCM_ERR_INVALID_TERMINAL_ID, PCM_ERR_INVALID_TTL) rather than a generic validation error;
 * the OpenAPI document shows their real rules (documentAs). Unknown properties are ignored, so
 * the contract can grow.
 */
export const TerminalId = Type.String({
  pattern: TERMINAL_ID_PATTERN,
  minLength: 1,
  maxLength: 128,
  description: 'Terminal id: 1-128 characters of [A-Za-z0-9._:-], starting with a letter or digit (otherwise 400 PCM_ERR_INVALID_TERMINAL_ID).',
});

export const TerminalParams = documentAs(Type.Object({ id: Type.String() }), Type.Object({ id: TerminalId }));

/** Hard ceiling of POST /requests (the contract's "instant response" path). */
export const MAX_REQUEST_TIMEOUT_MS = 60_000;

const sendBodyProperties = {
  payload: Type.Unknown({ description: 'Any JSON value, delivered verbatim.' }),
  collapseKey: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
};

export const SendBody = Type.Object({
  ...sendBodyProperties,
  ttlSeconds: Type.Optional(Type.Unknown({ description: 'Integer 0 ... PCM_MAX_TTL_SECONDS; 0 = deliver now or drop.' })),
});

/**
 * The send body of one gateway: validated as SendBody, documented with that gateway's
 * PCM_MAX_TTL_SECONDS as the maximum of `ttlSeconds` (a fresh object, so gateways in one
 * process keep their own document).
 */
export function sendBodyFor(maxTtlSeconds: number): typeof SendBody {
  return documentAs(
    { ...SendBody },
    Type.Object({
      ...sendBodyProperties,
      ttlSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: maxTtlSeconds, description: `Seconds the message may wait for the terminal, 0 ... ${maxTtlSeconds} (PCM_MAX_TTL_SECONDS); 0 = deliver now or drop. Default PCM_DEFAULT_TTL_SECONDS. Otherwise 400 PCM_ERR_INVALID_TTL.` })),
    }),
  );
}

export const SendResponse = Type.Object({
  terminalId: Type.String(),
  seq: Type.Integer(),
  messageId: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('dropped')]),
});

export const RequestBody = documentAs(
  Type.Object({
    payload: Type.Unknown(),
    timeoutMs: Type.Optional(Type.Unknown({ description: 'Integer 1 ... 60000; default PCM_REQUEST_TIMEOUT_MS.' })),
  }),
  Type.Object({
    payload: Type.Unknown({ description: 'Any JSON value, delivered verbatim.' }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_REQUEST_TIMEOUT_MS, description: `Milliseconds to wait for the reply, 1 ... ${MAX_REQUEST_TIMEOUT_MS}; default PCM_REQUEST_TIMEOUT_MS. Otherwise 400 PCM_ERR_BAD_REQUEST.` })),
  }),
);

export const RequestResponse = Type.Object({
  seq: Type.Integer(),
  reply: Type.Unknown(),
  latencyMs: Type.Number(),
});

export const PresenceResponse = Type.Object({
  terminalId: Type.String(),
  online: Type.Boolean(),
  gatewayId: Type.Optional(Type.String()),
  protocol: Type.Optional(Type.String()),
  pending: Type.Integer(),
  lastAckedSeq: Type.Integer(),
});

export const ErrorResponse = Type.Object({ code: Type.String(), message: Type.String() });

/** Most terminals one fan-out request may name (POST /v1/messages). */
export const MAX_FANOUT_TERMINALS = 1000;

export const FanoutBody = Type.Object({
  terminalIds: Type.Array(Type.String(), {
    minItems: 1,
    maxItems: MAX_FANOUT_TERMINALS,
    description: `1-${MAX_FANOUT_TERMINALS} distinct terminal ids; each gets its own copy of the message (its own seq).`,
  }),
  payload: Type.Unknown({ description: 'Any JSON value, delivered verbatim to every terminal.' }),
  ttlSeconds: Type.Optional(Type.Unknown({ description: 'As for one terminal: integer 0 ... PCM_MAX_TTL_SECONDS.' })),
  collapseKey: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Applies per terminal: a retry of the whole request stores nothing twice.' })),
});

export const FanoutItemError = Type.Object({
  terminalId: Type.String(),
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

export const FanoutResponse = Type.Object({
  accepted: Type.Integer({ description: 'Terminals whose copy is durably stored.' }),
  failed: Type.Integer({ description: 'Terminals whose copy was NOT stored (retry those; an idempotencyKey makes retrying all safe).' }),
  results: Type.Array(Type.Union([SendResponse, FanoutItemError]), { description: 'One entry per terminal id, in request order.' }),
});
