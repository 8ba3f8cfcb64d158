import { randomBytes } from 'node:crypto';
import { PcmError } from '../../common/errors.js';
import type { NewMessage, StoredMessage } from '../ports/message-store.js';

/**
 * Helpers every MessageStore adapter shares, so memory, SQLite and Couchbase agree on
 * the details the contract suite checks (DESIGN.md sections 2 and 4).
 */

/**
 * How long an idempotency record lives: the message's TTL, but at least this long, so a
 * sender retrying a `ttlSeconds: 0` (or short-lived) message still gets the first result
 * (invariant 2.6) instead of a second message.
 */
export const IDEMPOTENCY_MIN_SECONDS = 86_400;

export function idempotencyTtlSeconds(ttlSeconds: number): number {
  return Math.max(ttlSeconds, IDEMPOTENCY_MIN_SECONDS);
}

/**
 * A counter generation id: random, generated whenever a terminal's counter record is
 * created. A client that sees a new epoch resets its duplicate filter (invariant 2.3).
 */
export function newEpoch(): string {
  return randomBytes(8).toString('hex');
}

export function toStoredMessage(msg: NewMessage, seq: number, now: number): StoredMessage {
  const out: StoredMessage = {
    terminalId: msg.terminalId,
    seq,
    messageId: msg.messageId,
    payload: msg.payload,
    createdAt: now,
    expiresAt: now + msg.ttlSeconds * 1000,
  };
  if (msg.correlationId !== undefined) out.correlationId = msg.correlationId;
  if (msg.collapseKey !== undefined) out.collapseKey = msg.collapseKey;
  return out;
}

/** Expired when expiresAt <= now (port contract); ttl 0 is therefore expired at birth. */
export function isLive(m: Pick<StoredMessage, 'expiresAt'>, now: number): boolean {
  return m.expiresAt > now;
}

/** Rejects what no store can act on; the edge validates too, this guards the invariant. */
export function checkNewMessage(msg: NewMessage): void {
  if (!Number.isInteger(msg.ttlSeconds) || msg.ttlSeconds < 0) {
    throw new PcmError('PCM_ERR_INVALID_TTL', `ttlSeconds must be a non-negative integer, got ${msg.ttlSeconds}`);
  }
}

/** An ack names an integer seq; anything else is rejected before touching the cursor. */
export function checkAckSeq(terminalId: string, seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new PcmError('PCM_ERR_INVALID_ACK', `ack seq must be a non-negative integer, got ${seq}`, { details: { terminalId, seq } });
  }
}

export function ackBeyondLastSeq(terminalId: string, seq: number, lastSeq: number): PcmError {
  return new PcmError('PCM_ERR_INVALID_ACK', `ack ${seq} is beyond the last seq ${lastSeq} sent to ${terminalId}`, {
    details: { terminalId, seq, lastSeq },
  });
}
