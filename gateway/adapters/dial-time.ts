/**
 * When each terminal transport was accepted (issue 8, "Reconnect storm"): `performance.now()`
 * of this process at the TCP accept (or the WebSocket upgrade for MQTT over WebSocket). The
 * engine lets the latest *dial* win a takeover, not the connection it happens to finish last:
 * under a storm an overloaded gateway can finish the upgrade of a dial the terminal abandoned
 * long ago (its handshake timed out) after the terminal's newer connection, and that stale
 * socket must not take the live session over (its SDK would back off for a minute, docs/client.md).
 */
const accepted = new WeakMap<object, number>();

export function stampDial(transport: object): void {
  if (!accepted.has(transport)) accepted.set(transport, performance.now());
}

export function dialedAt(transport: object | undefined): number | undefined {
  return transport ? accepted.get(transport) : undefined;
}
