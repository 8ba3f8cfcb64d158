import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { encodeServerFrame } from '../../../protocol/codec.js';
import type { ServerFrame } from '../../../protocol/frames.js';
import type { TerminalConnection } from '../../ports/terminal-connection.js';

/**
 * WebSocket close codes (documented in docs/protocol.md). 1000-1015 are RFC 6455; 4000-4999
 * are application codes whose last three digits mirror the HTTP status of the error.
 */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001, // drain: shutdown or session limit; reconnect after reconnectAfterMs
  tooBig: 1009,
  internal: 1011,
  takenOver: 4409,
  unavailable: 4503,
} as const;

function closeCodeFor(last: ServerFrame | undefined): number {
  if (!last) return CLOSE_CODES.normal;
  if (last.type === 'drain') return CLOSE_CODES.goingAway;
  if (last.type !== 'error') return CLOSE_CODES.normal;
  switch (last.code) {
    case 'PCM_ERR_SESSION_TAKEN_OVER':
      return CLOSE_CODES.takenOver;
    case 'PCM_ERR_FRAME_TOO_LARGE':
      return CLOSE_CODES.tooBig;
    case 'PCM_ERR_STORE_UNAVAILABLE':
    case 'PCM_ERR_NOT_READY':
      return CLOSE_CODES.unavailable;
    default:
      return CLOSE_CODES.internal;
  }
}

/**
 * One terminal's WebSocket as the engine's TerminalConnection (DESIGN.md section 7). Frames
 * are written as whole buffers straight to the TCP socket (textFrame below).
 *
 * Frames written in the same turn of the event loop leave in one system call: the first is
 * written at once, as before; a second one corks the TCP socket, and the turn's end (a
 * `process.nextTick`, which runs once every promise continuation of the turn is done) uncorks
 * it, so the rest go out together in one writev. A draining terminal whose acks come back in
 * a burst gets the burst's refill in one write instead of one per message; a lone live
 * message is written exactly as before, no later.
 */
export class WsTerminalConnection implements TerminalConnection {
  readonly protocol = 'websocket' as const;
  private last: ServerFrame | undefined;
  /** A frame was written in this turn of the event loop (cleared at its end). */
  private wroteThisTurn = false;
  private corked = false;

  constructor(
    readonly socket: WebSocket,
    readonly terminalId: string,
    readonly remoteAddress?: string,
    readonly dialedAt?: number,
    /** The upgraded TCP socket under `socket`; without it every frame is its own write. */
    private readonly tcp?: Socket,
  ) {}

  send(frame: ServerFrame, encoded?: string): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (frame.type !== 'message') this.last = frame;
    if (this.tcp) {
      if (!this.wroteThisTurn) {
        this.wroteThisTurn = true;
        process.nextTick(endTurn, this); // a shared function: no closure per connection
      } else if (!this.corked) {
        this.corked = true;
        this.tcp.cork();
      }
    }
    const text = encoded ?? encodeServerFrame(frame);
    // RAW_FRAME: one buffer and one plain write, not ws's sender (see textFrame)
    if (this.tcp) this.tcp.write(textFrame(text));
    else this.socket.send(text);
  }

  /** The end of the turn that wrote (endTurn below): uncorks what the turn corked. */
  turnEnded(): void {
    this.wroteThisTurn = false;
    if (!this.corked) return;
    this.corked = false;
    this.tcp!.uncork();
  }

  bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  /** The close code follows the last control frame sent: `drain` -> 1001, `error` -> by code. */
  close(reason: string): void {
    if (this.socket.readyState === this.socket.CLOSED || this.socket.readyState === this.socket.CLOSING) return;
    this.socket.close(closeCodeFor(this.last), reason.slice(0, 120));
  }

  ping(): void {
    this.socket.ping();
  }

  terminate(): void {
    this.socket.terminate();
  }
}

/**
 * RAW_FRAME: one unmasked, final WebSocket text frame (RFC 6455 section 5.2), header and UTF-8
 * payload in one buffer, written straight to the upgraded TCP socket. `ws`'s own send encodes
 * the string into one buffer and the header into another, then corks the socket, writes both
 * and uncorks it into a two-chunk writev: per frame two allocations and the stream's cork
 * machinery. Writing the frame ourselves is safe here because that sender never queues: the
 * gateway turns permessage-deflate off and sends no Blobs, so ws writes its own frames (pings,
 * close) synchronously to the same socket, in call order, and `bufferedAmount` still counts
 * what waits in the socket. Measured in the `throughput` fan-out (bench/delivery-cpu.ts, three
 * interleaved pairs): 93 against 98 us of the main thread per delivered message.
 */
export function textFrame(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(head + len);
  buf[0] = 0x81; // FIN + opcode 1 (text)
  if (head === 2) buf[1] = len;
  else if (head === 4) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    buf.writeUInt32BE(len >>> 0, 6);
  }
  buf.write(text, head, 'utf8');
  return buf;
}

function endTurn(conn: WsTerminalConnection): void {
  conn.turnEnded();
}
