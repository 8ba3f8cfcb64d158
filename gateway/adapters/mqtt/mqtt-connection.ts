import type { Client } from 'aedes';
import { encodeServerFrame } from '../../../protocol/codec.js';
import type { ServerFrame } from '../../../protocol/frames.js';
import { topics } from '../../../protocol/topics.js';
import type { TerminalConnection } from '../../ports/terminal-connection.js';
import { dialedAt } from '../dial-time.js';

/** How long an engine-initiated close waits for the last frame (drain/error) to be written. */
const CLOSE_GRACE_MS = 1000;

/**
 * One terminal's MQTT client as the engine's TerminalConnection (DESIGN.md section 7).
 * Frames are written to this client only (`client.publish`, no topic fan-out), so another
 * client that took over the same id never receives this session's frames.
 * `message` frames go to `pcm/t/<id>/messages` at QoS 1 (downgraded if the terminal
 * subscribed at QoS 0); control frames (`welcome`, `drain`, `error`) to `pcm/t/<id>/control`,
 * only when the terminal subscribes to it.
 */
export class MqttTerminalConnection implements TerminalConnection {
  readonly protocol = 'mqtt' as const;
  readonly terminalId: string;
  readonly remoteAddress?: string;
  readonly dialedAt?: number;
  private readonly messagesTopic: string;
  private readonly controlTopic: string;
  private inFlightWrites = 0;
  private closeRequested = false;

  constructor(readonly client: Client) {
    this.terminalId = client.id;
    this.messagesTopic = topics.messages(client.id);
    this.controlTopic = topics.control(client.id);
    const sock = client.conn as { remoteAddress?: string };
    this.remoteAddress = sock.remoteAddress;
    this.dialedAt = dialedAt(client.conn as object | undefined);
  }

  private subscribed(topic: string): boolean {
    const subs = (this.client as unknown as { subscriptions?: Record<string, unknown> }).subscriptions;
    return !!subs && topic in subs;
  }

  send(frame: ServerFrame, encoded?: string): void {
    if (this.client.closed) return;
    const topic = frame.type === 'message' ? this.messagesTopic : this.controlTopic;
    if (frame.type !== 'message' && !this.subscribed(topic)) return;
    this.inFlightWrites++;
    this.client.publish(
      { cmd: 'publish', topic, payload: Buffer.from(encoded ?? encodeServerFrame(frame)), qos: 1, retain: false, dup: false },
      () => {
        this.inFlightWrites--;
        if (this.closeRequested && this.inFlightWrites === 0) this.client.close();
      },
    );
  }

  bufferedBytes(): number {
    return (this.client.conn as { writableLength?: number }).writableLength ?? 0;
  }

  /** Closes after the frames already handed to the client are written (a `drain` arrives first). */
  close(): void {
    if (this.client.closed || this.closeRequested) return;
    this.closeRequested = true;
    if (this.inFlightWrites === 0) {
      setImmediate(() => this.client.close());
      return;
    }
    setTimeout(() => {
      if (!this.client.closed) this.client.close();
    }, CLOSE_GRACE_MS).unref();
  }
}
