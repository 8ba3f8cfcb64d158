import mqtt from 'mqtt';
import { PcmError } from '../../common/errors.js';
import { topics } from '../../protocol/topics.js';
import { decodeServerFrame } from '../decode.js';
import type { ClientTransport, TransportFactory } from './transport.js';

/**
 * MQTT 3.1.1 transport (DESIGN.md section 5): client id = username = terminal id,
 * password = JWT; subscribe at QoS 1 to the terminal's `messages` and `control` topics;
 * acks go to `ack` as `{"seq"}`, replies to `reply` as `{"correlationId","payload"}`.
 *
 * clean session: the gateway's store, not the broker's session, is the source of truth
 * (DESIGN.md section 2.7), so a persistent MQTT session would only add duplicates.
 * Liveness is MQTT keepalive (PINGREQ every heartbeat; mqtt.js closes after 1.5 silent
 * intervals, within the two-missed-beats rule).
 */
export const connectMqtt: TransportFactory = async (opts, handlers) => {
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(
      opts.url,
      {
        clientId: opts.terminalId,
        username: opts.terminalId,
        password: opts.token,
        protocolVersion: 4,
        clean: true,
        keepalive: Math.max(1, Math.round(opts.heartbeatMs / 1000)),
        connectTimeout: opts.connectTimeoutMs,
        reconnectPeriod: 0,
        resubscribe: false,
      },
      false,
    );
  } catch (err) {
    const e = err as Error & { code?: number };
    // CONNACK 4 (bad user name or password) and 5 (not authorized).
    if (e.code === 4 || e.code === 5) {
      throw new PcmError(e.code === 4 ? 'PCM_ERR_UNAUTHORIZED' : 'PCM_ERR_FORBIDDEN', `MQTT broker refused the connection: ${e.message}`, { cause: err });
    }
    // A CONNACK refusal has a numeric code; anything else is the network (refused, reset, timeout).
    throw new PcmError(typeof e.code === 'number' ? 'PCM_ERR_INTERNAL' : 'PCM_ERR_UNREACHABLE', `MQTT connect to ${opts.url} failed: ${e.message}`, { cause: err });
  }

  // Small QoS 1 exchanges (PUBLISH, PUBACK, our ack): Nagle plus delayed ACK would hold each
  // for up to ~40 ms. The gateway's listener sets noDelay; the terminal's socket does too.
  const socket = client.stream as { setNoDelay?: (on: boolean) => unknown } | undefined;
  if (typeof socket?.setNoDelay === 'function') socket.setNoDelay(true);

  const messagesTopic = topics.messages(opts.terminalId);
  const controlTopic = topics.control(opts.terminalId);
  let closed = false;
  let opened = false;
  const finish = (reason: string) => {
    if (closed) return;
    closed = true;
    if (opened) handlers.onClose({ reason });
  };
  client.on('message', (topic, payload) => {
    try {
      if (topic === messagesTopic) handlers.onFrame(decodeServerFrame(payload, 'message'));
      else if (topic === controlTopic) handlers.onFrame(decodeServerFrame(payload));
    } catch (err) {
      handlers.onBadFrame(err as Error);
    }
  });
  client.on('close', () => finish('connection closed'));
  client.on('error', (err) => opts.logger.debug({ err }, 'mqtt error'));

  try {
    const granted = await client.subscribeAsync({ [controlTopic]: { qos: 1 }, [messagesTopic]: { qos: 1 } });
    const refused = granted.filter((g) => g.qos === 128);
    if (refused.length > 0) throw new PcmError('PCM_ERR_FORBIDDEN', `MQTT subscription refused for ${refused.map((g) => g.topic).join(', ')}`);
  } catch (err) {
    closed = true;
    client.end(true);
    throw err instanceof PcmError ? err : new PcmError('PCM_ERR_INTERNAL', `MQTT subscribe failed: ${(err as Error).message}`, { cause: err });
  }
  if (closed) throw new PcmError('PCM_ERR_INTERNAL', 'MQTT connection closed while subscribing');
  opened = true;

  const transport: ClientTransport = {
    protocol: 'mqtt',
    send(frame) {
      if (closed || !client.connected) return false;
      if (frame.type === 'ack') client.publish(topics.ack(opts.terminalId), JSON.stringify({ seq: frame.seq }), { qos: 1 });
      else client.publish(topics.reply(opts.terminalId), JSON.stringify({ correlationId: frame.correlationId, payload: frame.payload }), { qos: 1 });
      return true;
    },
    async close(reason) {
      if (closed) return;
      // Not forced: queued acks (QoS 1) are flushed before DISCONNECT.
      await client.endAsync(false).catch(() => client.end(true));
      finish(reason);
    },
  };
  return transport;
};
