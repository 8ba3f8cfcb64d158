import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../ports/message-store.js';
import { messageFrame } from './message-frame.js';

const stored = (over: Partial<StoredMessage> = {}): StoredMessage => ({
  terminalId: 't-1',
  seq: 7,
  messageId: 'm-7',
  payload: '{"amount":1250,"nested":{"ok":true}}',
  createdAt: Date.UTC(2026, 10, 27, 6, 0, 0, 1),
  expiresAt: Date.UTC(2026, 10, 28, 6, 0, 0, 1),
  ...over,
} as StoredMessage);

describe('messageFrame', () => {
  it('encodes the contract frame and the object agrees with it (payload parsed lazily, toJSON complete)', () => {
    const { frame, encoded } = messageFrame(stored({ correlationId: 'c-1' }), 'e-2');
    const wire = JSON.parse(encoded);
    expect(wire).toEqual({ type: 'message', seq: 7, messageId: 'm-7', payload: { amount: 1250, nested: { ok: true } }, createdAt: '2026-11-27T06:00:00.001Z', expiresAt: '2026-11-28T06:00:00.001Z', correlationId: 'c-1', epoch: 'e-2' });
    expect(frame.payload).toEqual({ amount: 1250, nested: { ok: true } });
    expect(frame.payload).toBe(frame.payload); // parsed once
    expect(JSON.parse(JSON.stringify(frame))).toEqual(wire);
    expect(JSON.parse(messageFrame(stored(), undefined).encoded)).not.toHaveProperty('epoch');
  });

  it('formats every timestamp correctly when consecutive frames alternate between times', () => {
    const times = [0, 1, 1, 86_400_000, 1, Date.UTC(2030, 0, 1), Date.UTC(2030, 0, 1), 5];
    for (const [i, t] of times.entries()) {
      const { frame, encoded } = messageFrame(stored({ seq: i + 1, createdAt: t, expiresAt: t + i }), undefined);
      expect(frame.createdAt).toBe(new Date(t).toISOString());
      expect(frame.expiresAt).toBe(new Date(t + i).toISOString());
      expect(JSON.parse(encoded).createdAt).toBe(new Date(t).toISOString());
    }
  });
});
