import type { GatewaySnapshot, SnapshotListener } from './source.js';

/** Listener bookkeeping shared by the sources; a throwing listener cannot break the others. */
export class SnapshotListeners {
  private readonly listeners = new Set<SnapshotListener>();
  constructor(private readonly onListenerError: (err: unknown) => void) {}
  add(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(snapshot: GatewaySnapshot): void {
    for (const l of [...this.listeners]) {
      try {
        l(snapshot);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
  clear(): void {
    this.listeners.clear();
  }
}
