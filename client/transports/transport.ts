import type { Logger } from '../../common/logger.js';
import type { AckFrame, ClientProfile, HelloFrame, Protocol, ReplyFrame, ServerFrame } from '../../protocol/frames.js';

/**
 * One connection to one gateway. PcmClient owns reconnection; a transport never retries.
 * Both transports deliver the same ServerFrame objects (DESIGN.md section 5).
 */
export interface ClientTransport {
  readonly protocol: Protocol;
  /** Sends an ack or a reply (MQTT: to the ack/reply topic). Returns false when the connection is not open. */
  send(frame: AckFrame | ReplyFrame): boolean;
  /** Closes the connection; resolves once it is closed. onClose is called once either way. */
  close(reason: string): Promise<void>;
}

export interface TransportHandlers {
  onFrame(frame: ServerFrame): void;
  /** A frame that could not be decoded; the connection stays open. */
  onBadFrame(err: Error): void;
  /** Called exactly once, after the connection opened, when it ends for any reason. */
  onClose(info: { code?: number; reason: string }): void;
}

export interface TransportOptions {
  /** Gateway URL: ws(s)://host:port/v1/connect, or mqtt(s)://host:port. */
  url: string;
  terminalId: string;
  token: string;
  profile: ClientProfile;
  heartbeatMs: number;
  connectTimeoutMs: number;
  logger: Logger;
  /** Sent as the optional first WebSocket frame. */
  hello?: HelloFrame;
}

/** Resolves once the connection is usable (WS open / MQTT CONNACK + SUBACK); rejects with a PcmError otherwise. */
export type TransportFactory = (opts: TransportOptions, handlers: TransportHandlers) => Promise<ClientTransport>;
