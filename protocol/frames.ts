/**
 * The terminal wire contract (DESIGN.md section 5). WebSocket text frames carry one JSON
 * object each; MQTT carries the same `message` object on `pcm/t/<id>/messages` and control
 * frames on `pcm/t/<id>/control`.
 *
 * Compatible extensions (documented in docs/protocol.md):
 * - `epoch` on `welcome` and `message`: identifies the store's counter generation for this
 *   terminal. If a counter is ever recreated, the epoch changes and clients reset their
 *   duplicate filter instead of dropping the new low seqs (invariant 2.3).
 * - `welcome.lastAckedSeq`: the server's ack cursor, so a client can tell what is pending.
 */
export type Protocol = 'websocket' | 'mqtt';

export interface WelcomeFrame {
  type: 'welcome';
  terminalId: string;
  sessionId: string;
  heartbeatSeconds: number;
  epoch?: string;
  lastAckedSeq?: number;
}

export interface MessageFrame {
  type: 'message';
  seq: number;
  messageId: string;
  payload: unknown;
  createdAt: string;
  expiresAt: string;
  correlationId?: string;
  epoch?: string;
}

export interface DrainFrame {
  type: 'drain';
  reconnectAfterMs: number;
  reason: string;
}

export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
}

export type ServerFrame = WelcomeFrame | MessageFrame | DrainFrame | ErrorFrame;

export interface AckFrame {
  type: 'ack';
  seq: number;
}

export interface ReplyFrame {
  type: 'reply';
  correlationId: string;
  payload: unknown;
}

export interface HelloFrame {
  type: 'hello';
  lastSeq?: number;
  profile?: 'aggressive' | 'normal' | 'passive';
}

export type TerminalFrame = AckFrame | ReplyFrame | HelloFrame;

export const CLIENT_PROFILES = ['aggressive', 'normal', 'passive'] as const;
export type ClientProfile = (typeof CLIENT_PROFILES)[number];
