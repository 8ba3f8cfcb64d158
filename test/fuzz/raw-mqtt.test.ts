/**
 * Malformed MQTT packets from a raw TCP socket (issue 8, hostile input): each gets a clear
 * refusal (CONNACK with a return code, or the connection closed), the gateway stays healthy,
 * and no state changes: the target terminal's queue and cursor are as before and a
 * well-behaved client still connects and receives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqttTerminal, startGateway, type TestGateway } from '../e2e/harness.js';
import { rawConnect } from './raw-sockets.js';

/** MQTT variable byte integer. */
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
const str = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};
function packet(type: number, flags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(type << 4) | flags]), varint(body.length), body]);
}
function connect(opts: { protoName?: string; level?: number; clientId: string; username?: string; password?: string; flags?: number }): Buffer {
  let flags = opts.flags ?? 0x02; // clean session
  if (opts.username !== undefined) flags |= 0x80;
  if (opts.password !== undefined) flags |= 0x40;
  const body = Buffer.concat([
    str(opts.protoName ?? 'MQTT'),
    Buffer.from([opts.level ?? 4, flags, 0, 30]),
    str(opts.clientId),
    ...(opts.username !== undefined ? [str(opts.username)] : []),
    ...(opts.password !== undefined ? [str(opts.password)] : []),
  ]);
  return packet(1, 0, body);
}

describe('raw MQTT packets', () => {
  let t: TestGateway;
  const id = 'raw-mqtt-1';
  beforeAll(async () => {
    t = await startGateway();
    for (let i = 0; i < 2; i++) expect((await t.send(id, { payload: i })).status).toBe(202);
  });
  afterAll(() => t.close());

  const unchanged = async () => {
    expect((await t.get('/healthz')).status).toBe(200);
    expect((await t.get(`/v1/terminals/${id}`)).body).toMatchObject({ online: false, pending: 2, lastAckedSeq: 0 });
  };

  const closes: Array<[string, (token: string) => Buffer]> = [
    ['garbage bytes', () => Buffer.from('GET / HTTP/1.1\r\n\r\n\xff\xfe\x00garbage')],
    ['reserved packet type 0', () => Buffer.from([0x00, 0x00])],
    ['remaining length with five continuation bytes', () => Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])],
    ['PUBLISH before CONNECT', () => packet(3, 0, Buffer.concat([str(`pcm/t/${id}/ack`), Buffer.from('{"seq":2}')]))],
    ['SUBSCRIBE before CONNECT', () => packet(8, 2, Buffer.concat([Buffer.from([0, 1]), str(`pcm/t/${id}/messages`), Buffer.from([1])]))],
    ['CONNECT with a wrong protocol name', (tok) => connect({ protoName: 'MQTX', clientId: id, username: id, password: tok })],
    ['CONNECT with reserved flag bit 0 set', (tok) => connect({ clientId: id, username: id, password: tok, flags: 0x03 })],
    ['CONNECT whose strings overrun the packet', () => Buffer.from([0x10, 0x08, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02])],
    ['CONNECT then a second CONNECT', (tok) => Buffer.concat([connect({ clientId: id, username: id, password: tok }), connect({ clientId: id, username: id, password: tok })])],
  ];

  for (const [name, bytes] of closes) {
    it(`${name} -> connection closed; nothing changes`, async () => {
      const c = await rawConnect(t.mqttPort!);
      c.write(bytes(await t.token(id)));
      const { afterMs } = await c.closed(3000);
      expect(afterMs).toBeLessThan(3000);
      await unchanged();
    });
  }

  it('CONNECT with protocol level 5 (MQTT 5), 0 or 255 -> closed, with no CONNACK or a refusing one', async () => {
    for (const level of [5, 0, 255]) {
      const c = await rawConnect(t.mqttPort!);
      c.write(connect({ level, clientId: id, username: id, password: await t.token(id) }));
      await c.closed(3000);
      const r = c.received();
      // Either no CONNACK at all, or a CONNACK (0x20 0x02) with a non-zero return code.
      if (r.length > 0) {
        expect(r[0]).toBe(0x20);
        expect(r[3]).not.toBe(0);
      }
    }
    await unchanged();
  });

  it('CONNECT without a password -> CONNACK 4 and close', async () => {
    const c = await rawConnect(t.mqttPort!);
    c.write(connect({ clientId: id, username: id }));
    await c.closed(3000);
    expect([...c.received().subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x04]);
    await unchanged();
  });

  it('an oversized declared packet (remaining length 256 MB) before CONNECT is closed at once', async () => {
    const c = await rawConnect(t.mqttPort!);
    c.write(Buffer.concat([Buffer.from([0x10]), varint(268_435_455), Buffer.alloc(1024)]));
    const { afterMs } = await c.closed(2000);
    expect(afterMs).toBeLessThan(2000);
    await unchanged();
  });

  it('an authenticated terminal declaring an oversized PUBLISH is disconnected; its queue is unchanged', async () => {
    const c = await rawConnect(t.mqttPort!);
    c.write(connect({ clientId: id, username: id, password: await t.token(id) }));
    await new Promise((r) => setTimeout(r, 200));
    expect([...c.received().subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x00]);
    c.write(Buffer.concat([Buffer.from([0x32]), varint(268_435_455), str(`pcm/t/${id}/ack`), Buffer.from([0, 1]), Buffer.alloc(64 * 1024, 0x20)]));
    const { afterMs } = await c.closed(2000);
    expect(afterMs).toBeLessThan(2000);
    await unchanged();
  });

  it('a PUBLISH just under the limit is not cut off by the guard (it reaches the decoder: error on control)', async () => {
    const m = await MqttTerminal.open(`mqtt://127.0.0.1:${t.mqttPort}`, 'raw-mqtt-big', await t.token('raw-mqtt-big'));
    const limit = t.gw.mqtt!.maxPacketBytes;
    await m.client.publishAsync('pcm/t/raw-mqtt-big/ack', Buffer.alloc(limit - 100, 0x20), { qos: 1 });
    const deadline = Date.now() + 3000;
    while (!m.control.some((c) => c.type === 'error') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(m.control.find((c) => c.type === 'error')?.code).toBe('PCM_ERR_FRAME_TOO_LARGE');
    expect(m.client.connected).toBe(true);
    await m.close();
  });

  it('after all of them a well-behaved client connects and receives both messages', async () => {
    const m = await MqttTerminal.open(`mqtt://127.0.0.1:${t.mqttPort}`, id, await t.token(id));
    expect((await m.waitMessages(2)).map((x) => x.seq)).toEqual([1, 2]);
    await m.close();
  });
});
