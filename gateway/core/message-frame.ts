import type { MessageFrame } from '../../protocol/frames.js';
import type { StoredMessage } from '../ports/message-store.js';

/**
 * Builds a `message` frame (DESIGN.md section 5) from a stored message. The payload is kept
 * as the JSON text the sender posted and spliced into the encoded frame, so it is never
 * parsed and re-serialized on the hot path. `frame.payload` parses lazily for adapters or
 * tests that look at the object.
 */
export function messageFrame(m: StoredMessage, epoch: string | undefined): { frame: MessageFrame; encoded: string } {
  const createdAt = new Date(m.createdAt).toISOString();
  const expiresAt = new Date(m.expiresAt).toISOString();
  let encoded = `{"type":"message","seq":${m.seq},"messageId":${JSON.stringify(m.messageId)},"payload":${m.payload},"createdAt":"${createdAt}","expiresAt":"${expiresAt}"`;
  if (m.correlationId !== undefined) encoded += `,"correlationId":${JSON.stringify(m.correlationId)}`;
  if (epoch !== undefined) encoded += `,"epoch":${JSON.stringify(epoch)}`;
  encoded += '}';
  const frame = { type: 'message', seq: m.seq, messageId: m.messageId, createdAt, expiresAt } as MessageFrame;
  let parsed: { v: unknown } | undefined;
  Object.defineProperty(frame, 'payload', {
    enumerable: true,
    get: () => (parsed ??= { v: JSON.parse(m.payload) }).v,
  });
  if (m.correlationId !== undefined) frame.correlationId = m.correlationId;
  if (epoch !== undefined) frame.epoch = epoch;
  return { frame, encoded };
}
