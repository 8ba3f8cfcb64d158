import { describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../ports/relay-bus.js';
import { decodeRelayEvent, encodeRelayEvent, RelayDecodeError, RELAY_WIRE_VERSION } from './event-codec.js';

describe('relay wire format', () => {
  const events: RelayEvent[] = [
    {
      kind: 'deliver',
      from: 'gw-1',
      epoch: 'e1',
      message: { terminalId: 't', seq: 3, messageId: 'm', payload: '{"a":1}', createdAt: 1, expiresAt: 2, correlationId: 'c', collapseKey: 'k' },
    },
    { kind: 'reply', from: 'gw-1', correlationId: 'c', terminalId: 't', payload: null },
    { kind: 'takeover', from: 'gw-1', terminalId: 't', connectionEpoch: 9 },
    { kind: 'resync', from: 'gw-1', terminalId: 't' },
  ];

  it('round-trips every kind and carries the version', () => {
    for (const e of events) {
      const wire = encodeRelayEvent(e);
      expect(JSON.parse(wire).v).toBe(RELAY_WIRE_VERSION);
      expect(decodeRelayEvent(Buffer.from(wire))).toEqual(e);
    }
  });

  it.each([
    ['null record', null],
    ['not JSON', 'nope'],
    ['a newer version', JSON.stringify({ v: 2, kind: 'resync', from: 'g', terminalId: 't' })],
    ['no version', JSON.stringify({ kind: 'resync', from: 'g', terminalId: 't' })],
    ['an unknown kind', JSON.stringify({ v: 1, kind: 'explode', from: 'g' })],
    ['no sender', JSON.stringify({ v: 1, kind: 'resync', terminalId: 't' })],
    ['a deliver without seq', JSON.stringify({ v: 1, kind: 'deliver', from: 'g', epoch: 'e', message: { terminalId: 't', messageId: 'm', payload: '1', createdAt: 1, expiresAt: 2 } })],
    ['a takeover with a string epoch', JSON.stringify({ v: 1, kind: 'takeover', from: 'g', terminalId: 't', connectionEpoch: '3' })],
    ['a reply without payload', JSON.stringify({ v: 1, kind: 'reply', from: 'g', terminalId: 't', correlationId: 'c' })],
  ])('rejects %s with RelayDecodeError', (_label, raw) => {
    expect(() => decodeRelayEvent(raw)).toThrow(RelayDecodeError);
  });
});
