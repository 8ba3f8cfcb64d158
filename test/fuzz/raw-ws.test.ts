/**
 * Malformed WebSocket frames from a raw socket (issue 8, hostile input): each gets a close
 * with the RFC 6455 status code for it, the gateway stays healthy, and the terminal's queue
 * and cursor are unchanged. The handshake is made by hand so the frames can break the rules
 * a WebSocket library would never let us break.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsTerminal, startGateway, type TestGateway } from '../e2e/harness.js';
import { rawWebSocket, serverCloseCode, wsFrame } from './raw-sockets.js';

describe('raw WebSocket frames', () => {
  let t: TestGateway;
  const id = 'raw-ws-1';
  beforeAll(async () => {
    // One terminal id dials a dozen times in a second here: flapping detection (PCM_FLAP_*,
    // test/e2e/flapping.test.ts) would rightly slow it down, which is not what this file tests.
    t = await startGateway({ mqtt: false, config: { flapMaxConnects: 0 } });
    for (let i = 0; i < 3; i++) expect((await t.send(id, { payload: i })).status).toBe(202);
  });
  afterAll(() => t.close());

  const text = (s: string) => Buffer.from(s);
  const cases: Array<[string, () => Buffer, number]> = [
    ['unmasked client frame', () => wsFrame({ opcode: 1, payload: text('{"type":"ack","seq":3}'), mask: false }), 1002],
    ['reserved opcode 0x3', () => wsFrame({ opcode: 3, payload: text('x') }), 1002],
    ['reserved control opcode 0xB', () => wsFrame({ opcode: 0xb }), 1002],
    ['RSV1 set without a negotiated extension', () => wsFrame({ opcode: 1, payload: text('{"type":"ack","seq":3}'), rsv: 4 }), 1002],
    ['fragmented control frame (ping without FIN)', () => wsFrame({ opcode: 9, fin: false }), 1002],
    ['continuation frame with nothing to continue', () => wsFrame({ opcode: 0, payload: text('x') }), 1002],
    ['text frame that is not UTF-8', () => wsFrame({ opcode: 1, payload: Buffer.from([0xc3, 0x28, 0xff, 0xfe]) }), 1007],
    ['length header of 2^62 bytes', () => wsFrame({ opcode: 1, lengthOverride: 1n << 62n }), 1009],
    ['length header of 2^63 bytes (MSB set, forbidden)', () => wsFrame({ opcode: 1, lengthOverride: 1n << 63n }), 1009],
    ['control frame longer than 125 bytes', () => wsFrame({ opcode: 9, payload: Buffer.alloc(200) }), 1002],
  ];

  for (const [name, frame, code] of cases) {
    it(`${name} -> close ${code}; queue and cursor unchanged; gateway healthy`, async () => {
      const c = await rawWebSocket(t.httpPort, await t.token(id));
      c.write(frame());
      const { afterMs } = await c.closed(3000);
      expect(afterMs).toBeLessThan(3000);
      expect(serverCloseCode(c.afterHandshake())).toBe(code);
      expect((await t.get('/healthz')).status).toBe(200);
      const p = (await t.get(`/v1/terminals/${id}`)).body;
      expect(p).toMatchObject({ pending: 3, lastAckedSeq: 0 });
    });
  }

  it('after all of them a well-behaved terminal still gets its three messages in order', async () => {
    const w = await WsTerminal.open(t, id);
    expect((await w.waitMessages(3)).map((m) => m.seq)).toEqual([1, 2, 3]);
    await w.close();
  });
});
