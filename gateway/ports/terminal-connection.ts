import type { Protocol, ServerFrame } from '../../protocol/frames.js';

/**
 * TerminalConnection port (DESIGN.md section 7): WebSocket and MQTT both feed this, so the
 * delivery engine cannot tell them apart. The edge adapter decodes terminal frames and calls
 * the engine; the engine pushes server frames back through `send`.
 */
export interface TerminalConnection {
  readonly terminalId: string;
  readonly protocol: Protocol;
  readonly remoteAddress?: string;
  /**
   * When the transport was accepted (`performance.now()` of this process; gateway/adapters/
   * dial-time.ts). A connection that dialed before the session in place does not take it over.
   */
  readonly dialedAt?: number;
  /**
   * Sends one server frame. `message` frames go to the terminal's message channel (WebSocket
   * text frame / MQTT `messages` topic at QoS 1); `drain` and `error` to control.
   * `encoded`, when given, is the frame already serialized as JSON (the engine splices the
   * stored payload text into it so payloads are never re-encoded); adapters write it as is.
   */
  send(frame: ServerFrame, encoded?: string): void;
  /** Bytes queued but not yet written (backpressure); the engine pauses delivery above a limit. */
  bufferedBytes(): number;
  /** Closes the transport. A close initiated by the engine does not call engine.disconnected twice. */
  close(reason: string): void;
}
