import type { ClientProfile } from '../protocol/frames.js';
import type { BackoffOptions } from '../common/backoff.js';

/**
 * Client profiles (DESIGN.md section 5, "Client profiles"): heartbeat interval and reconnect
 * pacing. A terminal on mains power and fixed broadband can afford `aggressive`; a
 * battery/cellular terminal wants `passive` (fewer radio wake-ups, slower retries that
 * spread a fleet's reconnect storm over minutes).
 *
 * | profile    | heartbeat | backoff base | backoff cap | connect timeout |
 * |------------|-----------|--------------|-------------|-----------------|
 * | aggressive | 10 s      | 250 ms       | 5 s         | 5 s             |
 * | normal     | 30 s      | 1 s          | 30 s        | 10 s            |
 * | passive    | 120 s     | 5 s          | 300 s       | 20 s            |
 *
 * The connection is considered dead after two missed heartbeats (DESIGN.md section 5).
 */
export interface ProfileSettings {
  /** WebSocket ping interval; MQTT keepalive. */
  heartbeatMs: number;
  /** Full-jitter backoff between reconnect attempts (common/backoff.ts). */
  backoff: Pick<BackoffOptions, 'baseMs' | 'capMs'>;
  /** Gives up a connect (or discovery request) attempt after this long. */
  connectTimeoutMs: number;
}

export const PROFILES: Readonly<Record<ClientProfile, Readonly<ProfileSettings>>> = Object.freeze({
  aggressive: Object.freeze({ heartbeatMs: 10_000, backoff: Object.freeze({ baseMs: 250, capMs: 5_000 }), connectTimeoutMs: 5_000 }),
  normal: Object.freeze({ heartbeatMs: 30_000, backoff: Object.freeze({ baseMs: 1_000, capMs: 30_000 }), connectTimeoutMs: 10_000 }),
  passive: Object.freeze({ heartbeatMs: 120_000, backoff: Object.freeze({ baseMs: 5_000, capMs: 300_000 }), connectTimeoutMs: 20_000 }),
});

/** Missed heartbeats after which a connection is declared dead. */
export const MISSED_HEARTBEATS = 2;

export function resolveProfile(name: ClientProfile, overrides: Partial<ProfileSettings> = {}): ProfileSettings {
  const base = PROFILES[name];
  return {
    heartbeatMs: overrides.heartbeatMs ?? base.heartbeatMs,
    backoff: { ...base.backoff, ...overrides.backoff },
    connectTimeoutMs: overrides.connectTimeoutMs ?? base.connectTimeoutMs,
  };
}
