import { Type } from 'typebox';

/**
 * Sender API schemas (DESIGN.md section 5). `ttlSeconds` and `timeoutMs` are checked in the
 * handler instead, so a bad value gets its own stable code (PCM_ERR_INVALID_TTL) rather than
 * a generic validation error. Unknown properties are ignored, so the contract can grow.
 */
export const TerminalParams = Type.Object({ id: Type.String() });

export const SendBody = Type.Object({
  payload: Type.Unknown({ description: 'Any JSON value, delivered verbatim.' }),
  ttlSeconds: Type.Optional(Type.Unknown({ description: 'Integer 0 ... PCM_MAX_TTL_SECONDS; 0 = deliver now or drop.' })),
  collapseKey: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
});

export const SendResponse = Type.Object({
  terminalId: Type.String(),
  seq: Type.Integer(),
  messageId: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('dropped')]),
});

export const RequestBody = Type.Object({
  payload: Type.Unknown(),
  timeoutMs: Type.Optional(Type.Unknown({ description: 'Integer 1 ... 60000; default PCM_REQUEST_TIMEOUT_MS.' })),
});

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
