import { describe, expect, it } from 'vitest';
import { ManualClock, offsetClock, systemClock } from '../common/clock.js';
import { isPcmError } from '../common/errors.js';
import { loadGatewayConfig } from './config.js';
import { gatewayClock } from './main.js';

/** PCM_CLOCK_OFFSET_MS (clock-skew fault testing, docs/configuration.md). */
describe('gateway clock offset', () => {
  const required = { PCM_TERMINAL_JWT_SECRET: 'x'.repeat(32), PCM_API_KEYS: 'key-12345678' };

  it('defaults to 0: the gateway runs on the system clock itself', () => {
    const cfg = loadGatewayConfig({ env: required });
    expect(cfg.clockOffsetMs).toBe(0);
    expect(gatewayClock(cfg)).toBe(systemClock);
  });

  it('PCM_CLOCK_OFFSET_MS shifts every reading by the offset, ahead or behind', () => {
    const ahead = gatewayClock(loadGatewayConfig({ env: { ...required, PCM_CLOCK_OFFSET_MS: '45000' } }));
    const behind = gatewayClock(loadGatewayConfig({ env: { ...required, PCM_CLOCK_OFFSET_MS: '-30000' } }));
    const t = Date.now();
    expect(ahead.now() - t).toBeGreaterThanOrEqual(45_000);
    expect(ahead.now() - t).toBeLessThan(46_000);
    expect(behind.now() - t).toBeGreaterThanOrEqual(-30_000);
    expect(behind.now() - t).toBeLessThan(-29_000);
    const manual = new ManualClock(1_000);
    const shifted = offsetClock(-250, manual);
    manual.advance(500);
    expect(shifted.now()).toBe(1_250);
  });

  it('is validated: an integer within +/- 1 h, anything else stops the process with PCM_ERR_CONFIG naming the variable', () => {
    for (const bad of ['3600001', '-3600001', 'soon']) {
      let err: unknown;
      try {
        loadGatewayConfig({ env: { ...required, PCM_CLOCK_OFFSET_MS: bad } });
      } catch (e) {
        err = e;
      }
      expect(isPcmError(err, 'PCM_ERR_CONFIG'), bad).toBe(true);
      expect((err as Error).message).toContain('PCM_CLOCK_OFFSET_MS');
    }
    expect(loadGatewayConfig({ env: { ...required, PCM_CLOCK_OFFSET_MS: '-3600000' } }).clockOffsetMs).toBe(-3_600_000);
    expect(() => offsetClock(Number.NaN)).toThrow(RangeError);
  });
});
