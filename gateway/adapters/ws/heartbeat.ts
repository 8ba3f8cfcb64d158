/**
 * Liveness for every WebSocket with ONE timer (issue 2 item 3): each beat pings every
 * connection; a connection that let two beats pass without a pong (or any frame) is
 * terminated. A dead peer is therefore closed 2-3 beats after it went silent.
 */
export interface Beating {
  ping(): void;
  terminate(): void;
}

interface Beat {
  missed: number;
  awaiting: boolean;
}

export class HeartbeatSweeper<C extends Beating> {
  private readonly conns = new Map<C, Beat>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly intervalMs: number) {}

  get size(): number {
    return this.conns.size;
  }

  add(c: C): void {
    this.conns.set(c, { missed: 0, awaiting: false });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.intervalMs);
      this.timer.unref?.();
    }
  }

  remove(c: C): void {
    this.conns.delete(c);
  }

  /** A pong or any frame from the peer proves it alive. */
  alive(c: C): void {
    const b = this.conns.get(c);
    if (b) {
      b.missed = 0;
      b.awaiting = false;
    }
  }

  sweep(): void {
    for (const [c, b] of this.conns) {
      if (b.awaiting && ++b.missed >= 2) {
        this.conns.delete(c);
        c.terminate();
        continue;
      }
      b.awaiting = true;
      try {
        c.ping();
      } catch {
        /* closing already */
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
