import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastHistogram } from './fast-histogram.js';

const buckets = [0.001, 0.0025, 0.005, 0.01, 0.1, 1];

/** The same observations into prom-client's Histogram and FastHistogram, each in its own registry. */
function pair(labelNames: string[]) {
  const slow = new Registry();
  const fast = new Registry();
  const cfg = { name: 'pcm_test_seconds', help: 'A test histogram.', buckets };
  return {
    slowRegistry: slow,
    fastRegistry: fast,
    slow: new Histogram({ ...cfg, labelNames, registers: [slow] }),
    fast: new FastHistogram<string>({ ...cfg, labelNames, registers: [fast] }),
  };
}

// bounds themselves (le is inclusive), between, below the first, above the last, zero
const values = [0, 0.0005, 0.001, 0.0011, 0.0025, 0.004, 0.01, 0.05, 0.1, 0.99, 1, 1.5, 120];

describe('FastHistogram', () => {
  it('exposes what prom-client exposes for the same observations: /metrics text and JSON, labelled', async () => {
    const p = pair(['op', 'store']);
    for (const [i, v] of values.entries()) {
      const labels = { op: i % 2 ? 'append' : 'ack', store: 'sqlite' };
      p.slow.labels(labels).observe(v);
      p.fast.labels(labels).observe(v);
    }
    const text = await p.fastRegistry.metrics();
    expect(text).toBe(await p.slowRegistry.metrics());
    expect(text).toContain('pcm_test_seconds_bucket{le="0.001",op="ack",store="sqlite"} 2'); // 0 and 0.001
    expect(await p.fastRegistry.getMetricsAsJSON()).toEqual(await p.slowRegistry.getMetricsAsJSON());
  });

  it('without labels: exposed at 0 before the first observation, then the same as prom-client; reset', async () => {
    const p = pair([]);
    expect(await p.fastRegistry.metrics()).toBe(await p.slowRegistry.metrics());
    for (const v of values) {
      p.slow.observe(v);
      p.fast.observe(v);
    }
    expect(await p.fastRegistry.metrics()).toBe(await p.slowRegistry.metrics());
    p.slow.reset();
    p.fast.reset();
    p.slow.zero({});
    expect(await p.fastRegistry.metrics()).toBe(await p.slowRegistry.metrics());
  });

  it('reset zeroes every series; a series bound before the reset keeps counting where a scrape sees it', async () => {
    const p = pair(['protocol']);
    const ws = p.fast.labels({ protocol: 'ws' });
    ws.observe(0.002);
    p.fastRegistry.resetMetrics();
    expect(await p.fastRegistry.metrics()).toContain('pcm_test_seconds_count{protocol="ws"} 0');
    ws.observe(0.002);
    expect(await p.fastRegistry.metrics()).toContain('pcm_test_seconds_count{protocol="ws"} 1');
  });

  it('refuses what prom-client refuses: a non-finite value, a missing or unknown label, le as a label', () => {
    const p = pair(['protocol']);
    expect(() => p.fast.labels({ protocol: 'ws' }).observe(Number.NaN)).toThrow(/not a valid number/);
    expect(() => p.fast.labels({} as Record<string, string>)).toThrow(/label protocol/);
    expect(() => p.fast.labels({ protocol: 'ws', other: 'x' })).toThrow(/unknown label other/);
    expect(() => p.fast.observe(1)).toThrow(/has labels/);
    expect(() => new FastHistogram({ name: 'x', help: 'x', buckets, labelNames: ['le'], registers: [] })).toThrow(/reserved/);
    expect(() => new FastHistogram({ name: 'y', help: 'y', buckets: [1, 1], registers: [] })).toThrow(/distinct/);
  });
});
