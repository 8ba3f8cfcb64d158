import type { MessageFrame } from '../../protocol/frames.js';
import type { StoredMessage } from '../ports/message-store.js';

/**
 * The frame object handed to a connection beside its encoding. Transports write `encoded`;
 * the object is for adapters or tests that look at fields, so `payload` parses on first read
 * (a prototype getter: no per-frame closure or defineProperty, which cost more than the rest
 * of the frame) and `toJSON` gives the full frame.
 */
class LazyMessageFrame implements MessageFrame {
  readonly type = 'message' as const;
  correlationId?: string;
  epoch?: string;
  readonly #payloadJson: string;
  #parsed: { v: unknown } | undefined;

  constructor(
    readonly seq: number,
    readonly messageId: string,
    readonly createdAt: string,
    readonly expiresAt: string,
    payloadJson: string,
  ) {
    this.#payloadJson = payloadJson;
  }

  get payload(): unknown {
    return (this.#parsed ??= { v: JSON.parse(this.#payloadJson) }).v;
  }

  toJSON(): MessageFrame {
    const f: MessageFrame = { type: 'message', seq: this.seq, messageId: this.messageId, payload: this.payload, createdAt: this.createdAt, expiresAt: this.expiresAt };
    if (this.correlationId !== undefined) f.correlationId = this.correlationId;
    if (this.epoch !== undefined) f.epoch = this.epoch;
    return f;
  }
}

/**
 * `Date#toISOString` for the timestamps of consecutive frames: messages stored in the same
 * millisecond (a fan-out, a burst) share them, and formatting a date costs more than
 * everything else in a frame. One entry per field: no growth, no eviction policy.
 */
function isoCache(): (ms: number) => string {
  let lastMs = NaN;
  let lastIso = '';
  return (ms) => {
    if (ms !== lastMs) {
      lastIso = new Date(ms).toISOString();
      lastMs = ms;
    }
    return lastIso;
  };
}
const createdIso = isoCache();
const expiresIso = isoCache();

/**
 * Builds a `message` frame (DESIGN.md section 5) from a stored message. The payload is kept
 * as the JSON text the sender posted and spliced into the encoded frame, so it is never
 * parsed and re-serialized on the hot path.
 */
export function messageFrame(m: StoredMessage, epoch: string | undefined): { frame: MessageFrame; encoded: string } {
  const createdAt = createdIso(m.createdAt);
  const expiresAt = expiresIso(m.expiresAt);
  let encoded = `{"type":"message","seq":${m.seq},"messageId":${JSON.stringify(m.messageId)},"payload":${m.payload},"createdAt":"${createdAt}","expiresAt":"${expiresAt}"`;
  if (m.correlationId !== undefined) encoded += `,"correlationId":${JSON.stringify(m.correlationId)}`;
  if (epoch !== undefined) encoded += `,"epoch":${JSON.stringify(epoch)}`;
  encoded += '}';
  const frame = new LazyMessageFrame(m.seq, m.messageId, createdAt, expiresAt, m.payload);
  if (m.correlationId !== undefined) frame.correlationId = m.correlationId;
  if (epoch !== undefined) frame.epoch = epoch;
  return { frame, encoded };
}
