import type { ServerFrame } from '../../../protocol/frames.js';
import type { TerminalConnection } from '../../ports/terminal-connection.js';

/** A TerminalConnection for engine unit tests: records every frame, never backpressured. */
export class RecordingConnection implements TerminalConnection {
  readonly protocol = 'websocket' as const;
  readonly frames: ServerFrame[] = [];
  constructor(readonly terminalId: string) {}
  send(frame: ServerFrame, encoded?: string): void {
    this.frames.push(encoded ? JSON.parse(encoded) : frame);
  }
  bufferedBytes(): number {
    return 0;
  }
  close(): void {}
  /** Seqs of the message frames received, in order. */
  seqs(): number[] {
    return this.frames.filter((f) => f.type === 'message').map((f) => (f as { seq: number }).seq);
  }
}
