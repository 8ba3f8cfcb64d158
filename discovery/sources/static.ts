import type { GatewayEndpoint, GatewaySnapshot, GatewaySource, SnapshotListener } from './source.js';
import { freezeSnapshot, parseGatewayList } from './snapshot.js';

/**
 * A fixed gateway set from configuration (PCM_GATEWAYS) or code: `pcm dev` runs discovery
 * with one of these holding its single in-process gateway. It never changes, so
 * subscribers are never called.
 */
export class StaticGatewaySource implements GatewaySource {
  private readonly snapshot: GatewaySnapshot;
  constructor(gateways: readonly (Omit<GatewayEndpoint, 'weight' | 'draining'> & Partial<GatewayEndpoint>)[], generation = 1) {
    this.snapshot = freezeSnapshot(
      generation,
      gateways.map((g) => ({ id: g.id, websocketUrl: g.websocketUrl, mqttUrl: g.mqttUrl, weight: g.weight ?? 1, draining: g.draining ?? false })),
    );
  }
  /** From the compact `id|websocketUrl|mqttUrl[|weight][|draining],…` form or a JSON document. */
  static fromList(text: string): StaticGatewaySource {
    const snap = parseGatewayList(text);
    return new StaticGatewaySource(snap.gateways, snap.generation);
  }
  current(): GatewaySnapshot {
    return this.snapshot;
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
  subscribe(_listener: SnapshotListener): () => void {
    return () => {};
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
