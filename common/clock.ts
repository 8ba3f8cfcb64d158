/** Injectable time source so TTL, heartbeat and backoff logic are testable without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * The system clock shifted by a fixed offset: a gateway whose wall clock is `offsetMs` ahead
 * (negative: behind) of the others. Used by `PCM_CLOCK_OFFSET_MS` (fault testing of clock
 * skew between gateways, docs/configuration.md); an offset of 0 returns `base` itself.
 */
export function offsetClock(offsetMs: number, base: Clock = systemClock): Clock {
  if (!Number.isFinite(offsetMs)) throw new RangeError(`clock offset must be a finite number of ms, got ${offsetMs}`);
  if (offsetMs === 0) return base;
  return { now: () => base.now() + offsetMs };
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
