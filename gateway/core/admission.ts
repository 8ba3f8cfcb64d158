import { systemClock, type Clock } from '../../common/clock.js';

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

/**
 * Connection admission control (PCM_MAX_CONNECTS_PER_SECOND, issue 6): a token bucket shared
 * by every terminal edge (WebSocket, MQTT over TCP, MQTT over WebSocket). A reconnect storm
 * (a gateway lost, a drain) is refused cheaply at the door with a retry hint instead of
 * queueing JWT verifications and store reads until everything times out. `burst` tokens at
 * most, refilled continuously at `ratePerSecond`; rate 0 admits everything.
 */
export class ConnectBucket {
  private tokens: number;
  private last: number;
  private readonly burst: number;

  constructor(
    private readonly ratePerSecond: number,
    burst?: number,
    private readonly clock: Clock = systemClock,
    /** Called on each refusal (pcm_connections_refused_total). */
    private readonly onRefuse?: () => void,
  ) {
    this.burst = Math.max(1, burst ?? ratePerSecond);
    this.tokens = this.burst;
    this.last = clock.now();
  }

  take(): Admission {
    if (this.ratePerSecond <= 0) return { ok: true };
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    this.onRefuse?.();
    return { ok: false, retryAfterMs: Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000) };
  }
}
