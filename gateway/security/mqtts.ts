import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Aedes } from 'aedes';
import type { TlsMaterial } from './tls.js';
import { guardMqttPackets } from './mqtt-packet-guard.js';
import { stampDial } from '../adapters/dial-time.js';

/**
 * MQTT over TLS (mqtts, conventionally port 8883): a TLS listener handing each decrypted
 * stream to the same aedes broker as the plain TCP and `/mqtt` listeners, so the edge's
 * authentication and topic ACL apply unchanged. A failed handshake never reaches aedes.
 */
export class MqttsListener {
  private server: Server | undefined;

  constructor(
    private readonly broker: Aedes,
    private readonly tls: TlsMaterial,
    /** Largest MQTT packet a client may declare (MqttEdge.maxPacketBytes). */
    private readonly maxPacketBytes: number,
    /** Seconds a TLS handshake may take before the socket is dropped (slow/garbage clients). */
    private readonly handshakeTimeoutMs = 10_000,
  ) {}

  async listen(host: string, port: number): Promise<number> {
    // noDelay as on the plain MQTT listener: QoS 1 exchanges are small packets, and Nagle
    // would hold each one ~40 ms waiting for the peer's delayed ACK.
    const server = createServer({ ...this.tls, noDelay: true, handshakeTimeout: this.handshakeTimeoutMs }, (sock) => {
      stampDial(sock);
      guardMqttPackets(sock, this.maxPacketBytes);
      this.broker.handle(sock);
    });
    // Handshake failures (untrusted peers, plain-text clients) are the peer's problem: drop them.
    server.on('tlsClientError', (_err, sock) => sock.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
