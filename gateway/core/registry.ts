/**
 * Local session registry with an LRU cap (PCM_MAX_SESSIONS, issue 2 item 3). A Map keeps
 * insertion order, so "touch" = delete + set and the least recently used entry is the
 * first key. O(1) per operation, no timers.
 */
export class LruRegistry<V> {
  private readonly map = new Map<string, V>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  /** Marks the entry as recently used. */
  touch(key: string): void {
    const v = this.map.get(key);
    if (v === undefined) return;
    this.map.delete(key);
    this.map.set(key, v);
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
  }

  /** Removes the entry only if it is still `value` (a newer session may have replaced it). */
  deleteIf(key: string, value: V): boolean {
    if (this.map.get(key) !== value) return false;
    return this.map.delete(key);
  }

  /** The least recently used entry, when the registry is at or over capacity. */
  victim(): [string, V] | undefined {
    if (this.map.size < this.capacity) return undefined;
    const first = this.map.entries().next();
    return first.done ? undefined : first.value;
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }
}
