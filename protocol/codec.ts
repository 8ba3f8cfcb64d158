import { PcmError } from '../common/errors.js';
import type { AckFrame, ReplyFrame, HelloFrame, TerminalFrame, ServerFrame } from './frames.js';
import { CLIENT_PROFILES } from './frames.js';

/** Largest frame a terminal may send (acks and replies; replies carry a payload). */
export const DEFAULT_MAX_FRAME_BYTES = 128 * 1024;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isCorrelationId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128;

function bad(message: string): PcmError {
  return new PcmError('PCM_ERR_BAD_REQUEST', message);
}

/**
 * Deepest nesting of arrays/objects accepted in a payload (issue 8, hostile input). JSON.parse
 * copes with 100,000 levels in a 200 KB frame but JSON.stringify, which every later step uses
 * (store, relay, HTTP reply), overflows the stack on it: such input is refused at the edge.
 */
export const MAX_JSON_DEPTH = 64;

/** Throws PCM_ERR_BAD_REQUEST when `value` nests deeper than `maxDepth`; iterative, so it cannot overflow itself. */
export function assertJsonDepth(value: unknown, what = 'payload', maxDepth = MAX_JSON_DEPTH): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= maxDepth) throw bad(`${what} nests deeper than ${maxDepth} levels`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
}

/**
 * Decodes one terminal -> server WebSocket frame. Throws PcmError with a stable code on
 * anything malformed; the caller answers with an `error` frame and changes nothing.
 */
export function decodeTerminalFrame(data: string | Buffer, maxBytes = DEFAULT_MAX_FRAME_BYTES): TerminalFrame {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > maxBytes) throw new PcmError('PCM_ERR_FRAME_TOO_LARGE', `frame of ${size} bytes exceeds the limit of ${maxBytes}`);
  let obj: unknown;
  try {
    obj = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    throw bad('frame is not valid JSON');
  }
  if (!isObj(obj)) throw bad('frame must be a JSON object');
  switch (obj.type) {
    case 'ack':
      return decodeAck(obj);
    case 'reply':
      return decodeReply(obj);
    case 'hello': {
      const f: HelloFrame = { type: 'hello' };
      if (obj.lastSeq !== undefined) {
        if (!isSeq(obj.lastSeq)) throw bad('hello.lastSeq must be a non-negative integer');
        f.lastSeq = obj.lastSeq;
      }
      if (obj.profile !== undefined) {
        if (!(CLIENT_PROFILES as readonly unknown[]).includes(obj.profile)) throw bad(`hello.profile must be one of ${CLIENT_PROFILES.join(', ')}`);
        f.profile = obj.profile as HelloFrame['profile'];
      }
      return f;
    }
    default:
      throw new PcmError('PCM_ERR_UNKNOWN_FRAME', `unknown frame type ${JSON.stringify(obj.type)}; expected ack, reply or hello`);
  }
}

function decodeAck(obj: Record<string, unknown>): AckFrame {
  if (!isSeq(obj.seq)) throw bad('ack.seq must be a non-negative integer');
  return { type: 'ack', seq: obj.seq };
}

function decodeReply(obj: Record<string, unknown>): ReplyFrame {
  if (!isCorrelationId(obj.correlationId)) throw bad('reply.correlationId must be a non-empty string of at most 128 characters');
  if (!('payload' in obj)) throw bad('reply.payload is required');
  assertJsonDepth(obj.payload, 'reply.payload');
  return { type: 'reply', correlationId: obj.correlationId, payload: obj.payload };
}

/** MQTT `pcm/t/<id>/ack` payload: `{"seq"}`. */
export function decodeMqttAck(data: Buffer | string, maxBytes = DEFAULT_MAX_FRAME_BYTES): AckFrame {
  const obj = parseObject(data, maxBytes);
  return decodeAck(obj);
}

/** MQTT `pcm/t/<id>/reply` payload: `{"correlationId","payload"}`. */
export function decodeMqttReply(data: Buffer | string, maxBytes = DEFAULT_MAX_FRAME_BYTES): ReplyFrame {
  const obj = parseObject(data, maxBytes);
  return decodeReply(obj);
}

function parseObject(data: Buffer | string, maxBytes: number): Record<string, unknown> {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > maxBytes) throw new PcmError('PCM_ERR_FRAME_TOO_LARGE', `frame of ${size} bytes exceeds the limit of ${maxBytes}`);
  let obj: unknown;
  try {
    obj = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    throw bad('payload is not valid JSON');
  }
  if (!isObj(obj)) throw bad('payload must be a JSON object');
  return obj;
}

export function encodeServerFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}
