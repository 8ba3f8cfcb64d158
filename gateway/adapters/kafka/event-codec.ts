import type { RelayEvent } from '../../ports/relay-bus.js';

/**
 * Wire format of a relay event on Kafka: one JSON object, the event's own fields plus
 * `v` (format version). A gateway drops (and counts) a version it does not know instead of
 * crashing: during a rolling upgrade old and new gateways share topics, and a dropped relay
 * event only delays a message until the next drain (DESIGN.md invariant 2.7).
 */
export const RELAY_WIRE_VERSION = 1;

export class RelayDecodeError extends Error {
  override readonly name = 'RelayDecodeError';
}

export function encodeRelayEvent(event: RelayEvent): string {
  return JSON.stringify({ v: RELAY_WIRE_VERSION, ...event });
}

const isStr = (x: unknown): x is string => typeof x === 'string';
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Parses and shape-checks one record value; throws RelayDecodeError on anything else. */
export function decodeRelayEvent(raw: Buffer | string | null): RelayEvent {
  if (raw === null) throw new RelayDecodeError('empty record');
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    throw new RelayDecodeError('record is not JSON');
  }
  if (!obj || typeof obj !== 'object') throw new RelayDecodeError('record is not an object');
  if (obj.v !== RELAY_WIRE_VERSION) throw new RelayDecodeError(`unsupported relay wire version ${JSON.stringify(obj.v)}`);
  const { v: _v, ...event } = obj;
  if (!isStr(event.from)) throw new RelayDecodeError('missing "from"');
  switch (event.kind) {
    case 'deliver': {
      const m = event.message as Record<string, unknown> | undefined;
      if (!isStr(event.epoch) || !m || !isStr(m.terminalId) || !isNum(m.seq) || !isStr(m.messageId) || !isStr(m.payload) || !isNum(m.createdAt) || !isNum(m.expiresAt)) {
        throw new RelayDecodeError('malformed deliver event');
      }
      break;
    }
    case 'reply':
      if (!isStr(event.correlationId) || !isStr(event.terminalId) || !('payload' in event)) throw new RelayDecodeError('malformed reply event');
      break;
    case 'takeover':
      if (!isStr(event.terminalId) || !isNum(event.connectionEpoch)) throw new RelayDecodeError('malformed takeover event');
      break;
    case 'resync':
      if (!isStr(event.terminalId)) throw new RelayDecodeError('malformed resync event');
      break;
    default:
      throw new RelayDecodeError(`unknown relay event kind ${JSON.stringify(event.kind)}`);
  }
  return event as unknown as RelayEvent;
}
