import { PcmError } from '../common/errors.js';
import type { ServerFrame, MessageFrame } from '../protocol/frames.js';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const optString = (v: unknown) => v === undefined || typeof v === 'string';

function bad(message: string): PcmError {
  return new PcmError('PCM_ERR_BAD_REQUEST', `server frame: ${message}`);
}

/**
 * Decodes one server -> terminal frame (DESIGN.md section 5). Unknown extra fields are
 * kept (compatible extensions); a frame of unknown type throws PCM_ERR_UNKNOWN_FRAME so
 * the client can ignore it rather than crash. `defaultType` covers the MQTT messages
 * topic, whose payload is the message frame.
 */
export function decodeServerFrame(data: string | Buffer, defaultType?: 'message'): ServerFrame {
  let obj: unknown;
  try {
    obj = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    throw bad('not valid JSON');
  }
  if (!isObj(obj)) throw bad('not a JSON object');
  const type = obj.type ?? defaultType;
  switch (type) {
    case 'message': {
      if (!isSeq(obj.seq)) throw bad('message.seq must be a non-negative integer');
      if (typeof obj.messageId !== 'string') throw bad('message.messageId must be a string');
      if (!optString(obj.correlationId) || !optString(obj.epoch)) throw bad('message.correlationId and message.epoch must be strings');
      return { ...obj, type: 'message' } as MessageFrame;
    }
    case 'welcome':
      if (typeof obj.terminalId !== 'string' || typeof obj.sessionId !== 'string') throw bad('welcome needs terminalId and sessionId');
      if (!optString(obj.epoch)) throw bad('welcome.epoch must be a string');
      return obj as unknown as ServerFrame;
    case 'drain':
      if (typeof obj.reconnectAfterMs !== 'number' || !(obj.reconnectAfterMs >= 0)) throw bad('drain.reconnectAfterMs must be a non-negative number');
      return obj as unknown as ServerFrame;
    case 'error':
      if (typeof obj.code !== 'string') throw bad('error.code must be a string');
      return obj as unknown as ServerFrame;
    default:
      throw new PcmError('PCM_ERR_UNKNOWN_FRAME', `server frame: unknown type ${JSON.stringify(type)}`);
  }
}
