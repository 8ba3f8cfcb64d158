import type { Duplex } from 'node:stream';

/**
 * Oversized-packet guard for MQTT byte streams (issue 8, hostile input). aedes (mqtt-packet)
 * has no packet size limit: a client declaring a 256 MB PUBLISH makes the broker buffer until
 * all of it arrives, so one authenticated terminal could hold hundreds of MB. This observer
 * follows the MQTT framing (type byte, remaining-length varint, body) alongside aedes and
 * destroys the connection as soon as a packet *declares* more than `maxPacketBytes`, or a
 * remaining length is malformed (more than four bytes), before the body is buffered.
 *
 * It only reads what aedes reads (a second 'data' listener; aedes keeps flow control), so a
 * well-formed stream is untouched.
 */
export function guardMqttPackets(stream: Duplex, maxPacketBytes: number, onViolation?: (reason: string) => void): void {
  let state: 'type' | 'len' | 'body' = 'type';
  let value = 0;
  let mult = 1;
  let lenBytes = 0;
  let remaining = 0;
  const violate = (reason: string) => {
    onViolation?.(reason);
    stream.destroy();
  };
  stream.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (state === 'type') {
        i++;
        state = 'len';
        value = 0;
        mult = 1;
        lenBytes = 0;
      } else if (state === 'len') {
        const b = chunk[i++]!;
        value += (b & 0x7f) * mult;
        mult *= 128;
        lenBytes++;
        if (b & 0x80) {
          if (lenBytes >= 4) return violate('malformed remaining length');
          continue;
        }
        if (value > maxPacketBytes) return violate(`packet of ${value} bytes exceeds the limit of ${maxPacketBytes}`);
        remaining = value;
        state = remaining === 0 ? 'type' : 'body';
      } else {
        const take = Math.min(remaining, chunk.length - i);
        i += take;
        remaining -= take;
        if (remaining === 0) state = 'type';
      }
    }
  });
}
