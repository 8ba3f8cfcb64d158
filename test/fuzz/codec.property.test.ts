/**
 * Property tests for the terminal frame decoders (issue 8, hostile input): whatever bytes a
 * terminal sends, the decoder either returns a well-formed frame or throws a PcmError with a
 * stable code, never anything else; every valid frame survives an encode/decode round trip.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isPcmError } from '../../common/errors.js';
import { MAX_JSON_DEPTH, assertJsonDepth, decodeMqttAck, decodeMqttReply, decodeTerminalFrame } from '../../protocol/codec.js';
import { CLIENT_PROFILES, type TerminalFrame } from '../../protocol/frames.js';

const RUNS = { numRuns: 2000 };
const CODES = new Set(['PCM_ERR_BAD_REQUEST', 'PCM_ERR_UNKNOWN_FRAME', 'PCM_ERR_FRAME_TOO_LARGE']);

function outcome(f: () => unknown): 'ok' | 'pcm' {
  try {
    f();
    return 'ok';
  } catch (err) {
    if (isPcmError(err) && CODES.has(err.code)) return 'pcm';
    throw err; // anything else fails the property
  }
}

const seq = fc.oneof(fc.nat(), fc.maxSafeNat());
const jsonValue = fc.jsonValue({ maxDepth: 6 });
const validFrame: fc.Arbitrary<TerminalFrame> = fc.oneof(
  seq.map((s) => ({ type: 'ack' as const, seq: s })),
  fc.record({ type: fc.constant('reply' as const), correlationId: fc.string({ minLength: 1, maxLength: 128 }), payload: jsonValue }),
  fc.record({ type: fc.constant('hello' as const), lastSeq: seq, profile: fc.constantFrom(...CLIENT_PROFILES) }, { requiredKeys: ['type'] }),
);

/** Near-miss objects: right shape, wrong types or values. */
const nearMiss = fc.record(
  {
    type: fc.oneof(fc.constantFrom('ack', 'reply', 'hello', 'message', 'welcome', '', 'ACK', '__proto__'), fc.anything()),
    seq: fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(null), fc.bigInt().map(String)),
    lastSeq: fc.anything(),
    profile: fc.oneof(fc.string(), fc.anything()),
    correlationId: fc.oneof(fc.string({ maxLength: 300 }), fc.anything()),
    payload: fc.anything(),
  },
  { requiredKeys: [] },
);

describe('decodeTerminalFrame under arbitrary input', () => {
  it('never throws anything but a PcmError with a known code (random strings)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (s) => void outcome(() => decodeTerminalFrame(s))), RUNS);
  });

  it('never throws anything but a PcmError (random bytes, invalid UTF-8 included)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => void outcome(() => decodeTerminalFrame(Buffer.from(b)))), RUNS);
  });

  it('never throws anything but a PcmError (arbitrary JSON values and near-miss frames)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), nearMiss), (v) => {
        let text: string;
        try {
          text = JSON.stringify(v) ?? 'undefined';
        } catch {
          return; // bigint etc.: not representable as a frame
        }
        void outcome(() => decodeTerminalFrame(text));
        void outcome(() => decodeMqttAck(text));
        void outcome(() => decodeMqttReply(text));
      }),
      RUNS,
    );
  });

  it('a decoded frame is always one of the three types with valid fields', () => {
    fc.assert(
      fc.property(fc.oneof(validFrame.map((f) => JSON.stringify(f)), nearMiss.map((v) => JSON.stringify(v))), (text) => {
        let f: TerminalFrame;
        try {
          f = decodeTerminalFrame(text);
        } catch (err) {
          expect(isPcmError(err)).toBe(true);
          return;
        }
        if (f.type === 'ack') expect(Number.isSafeInteger(f.seq) && f.seq >= 0).toBe(true);
        else if (f.type === 'reply') expect(typeof f.correlationId === 'string' && f.correlationId.length >= 1 && f.correlationId.length <= 128).toBe(true);
        else if (f.type === 'hello') {
          if (f.lastSeq !== undefined) expect(Number.isSafeInteger(f.lastSeq) && f.lastSeq >= 0).toBe(true);
          if (f.profile !== undefined) expect(CLIENT_PROFILES).toContain(f.profile);
        } else expect.unreachable(`unexpected frame ${JSON.stringify(f)}`);
      }),
      RUNS,
    );
  });

  it('valid frames round-trip (string and Buffer input)', () => {
    fc.assert(
      fc.property(validFrame, (frame) => {
        const text = JSON.stringify(frame);
        const expected = JSON.parse(text) as unknown; // -0 and undefined members normalise as on the wire
        expect(decodeTerminalFrame(text)).toEqual(expected);
        expect(decodeTerminalFrame(Buffer.from(text))).toEqual(expected);
      }),
      RUNS,
    );
  });

  it('valid MQTT ack and reply payloads round-trip', () => {
    fc.assert(
      fc.property(seq, fc.string({ minLength: 1, maxLength: 128 }), jsonValue, (s, cid, payload) => {
        expect(decodeMqttAck(JSON.stringify({ seq: s }))).toEqual({ type: 'ack', seq: s });
        expect(decodeMqttReply(JSON.stringify({ correlationId: cid, payload }))).toEqual({ type: 'reply', correlationId: cid, payload: JSON.parse(JSON.stringify(payload)) });
      }),
      RUNS,
    );
  });

  it('frames over the size limit are refused before parsing, whatever they contain', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 512 }), fc.string({ minLength: 1, maxLength: 50 }), (limit, filler) => {
        const text = JSON.stringify({ type: 'ack', seq: 1, pad: filler.repeat(Math.ceil((limit + 1) / filler.length)) });
        try {
          decodeTerminalFrame(text, limit);
          expect.unreachable('oversized frame accepted');
        } catch (err) {
          expect(isPcmError(err, 'PCM_ERR_FRAME_TOO_LARGE')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('deeply nested reply payloads are refused (they would overflow JSON.stringify downstream)', () => {
    for (const depth of [MAX_JSON_DEPTH + 1, 1000, 60_000]) {
      const text = `{"type":"reply","correlationId":"c","payload":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      expect(() => decodeTerminalFrame(text, 1 << 20)).toThrow(/nests deeper/);
    }
    const ok = `{"type":"reply","correlationId":"c","payload":${'{"a":'.repeat(MAX_JSON_DEPTH - 1)}1${'}'.repeat(MAX_JSON_DEPTH - 1)}}`;
    expect(decodeTerminalFrame(ok).type).toBe('reply');
    expect(() => assertJsonDepth(JSON.parse('[' .repeat(65) + ']'.repeat(65)))).toThrow();
  });
});
