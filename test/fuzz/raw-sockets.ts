/** Raw TCP helpers for hostile-input tests: send exact bytes, collect what comes back, see the close. */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface RawConn {
  sock: Socket;
  received(): Buffer;
  /** Resolves when the server closed (or reset) the connection; rejects after timeoutMs. */
  closed(timeoutMs?: number): Promise<{ afterMs: number }>;
  write(b: Buffer | string): void;
  destroy(): void;
}

export async function rawConnect(port: number): Promise<RawConn> {
  const sock = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  const started = Date.now();
  let closedAt: number | undefined;
  sock.on('data', (d) => chunks.push(d));
  sock.on('error', () => undefined); // ECONNRESET is one of the ways a server hangs up
  sock.on('close', () => (closedAt = Date.now()));
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  return {
    sock,
    received: () => Buffer.concat(chunks),
    write: (b) => {
      if (!sock.destroyed) sock.write(b);
    },
    destroy: () => sock.destroy(),
    closed: (timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        const check = setInterval(() => {
          if (closedAt !== undefined) {
            clearInterval(check);
            resolve({ afterMs: closedAt - started });
          } else if (Date.now() - started > timeoutMs) {
            clearInterval(check);
            reject(new Error(`connection still open after ${timeoutMs} ms`));
          }
        }, 10);
      }),
  };
}

/** Opens an authenticated WebSocket by hand (RFC 6455 handshake), returning the raw socket past the 101. */
export async function rawWebSocket(port: number, token: string): Promise<RawConn & { afterHandshake(): Buffer }> {
  const c = await rawConnect(port);
  const key = randomBytes(16).toString('base64');
  c.write(`GET /v1/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  const deadline = Date.now() + 3000;
  while (!c.received().includes('\r\n\r\n')) {
    if (Date.now() > deadline) throw new Error('no handshake response');
    await new Promise((r) => setTimeout(r, 5));
  }
  const head = c.received().toString('latin1');
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${head.split('\r\n')[0]}`);
  const headerLen = c.received().indexOf('\r\n\r\n') + 4;
  return { ...c, afterHandshake: () => c.received().subarray(headerLen) };
}

/** A client frame (masked unless told otherwise). */
export function wsFrame(opts: { opcode: number; payload?: Buffer; fin?: boolean; mask?: boolean; rsv?: number; lengthOverride?: bigint }): Buffer {
  const payload = opts.payload ?? Buffer.alloc(0);
  const mask = opts.mask ?? true;
  const b0 = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opts.opcode;
  const len = opts.lengthOverride ?? BigInt(payload.length);
  let header: Buffer;
  if (len < 126n) header = Buffer.from([b0, (mask ? 0x80 : 0) | Number(len)]);
  else if (len < 65536n) {
    header = Buffer.alloc(4);
    header[0] = b0;
    header[1] = (mask ? 0x80 : 0) | 126;
    header.writeUInt16BE(Number(len), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = b0;
    header[1] = (mask ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(len, 2);
  }
  if (!mask) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((x, i) => x ^ key[i % 4]!));
  return Buffer.concat([header, key, masked]);
}

/** The status code of the first server close frame (opcode 8) in `data`, if any. */
export function serverCloseCode(data: Buffer): number | undefined {
  let i = 0;
  while (i + 2 <= data.length) {
    const opcode = data[i]! & 0x0f;
    let len = data[i + 1]! & 0x7f;
    let off = i + 2;
    if (len === 126) {
      len = data.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      len = Number(data.readBigUInt64BE(off));
      off += 8;
    }
    if (opcode === 8) return len >= 2 ? data.readUInt16BE(off) : 1005;
    i = off + len;
  }
  return undefined;
}
