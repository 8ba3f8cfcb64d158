/**
 * End-to-end smoke test of the bench harness: runs the `discovery`, `latency`, `drain` and `storm` scenarios with --quick sizes
 * (real child processes: PCM discovery and gateways, a bare fastify baseline, undici and SDK load generators) and
 * checks the JSON it writes. No timing thresholds: this machine is shared; numbers only must exist.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runScenario, scenarios } from './runner.js';
import type { ScenarioResult } from './lib/result.js';
import { DRAIN_PREFIX, WARMUP_PREFIX, fillDrainStore } from './scenarios/drain.js';
import Database from 'better-sqlite3';
import { SqliteMessageStore } from '../gateway/adapters/sqlite/sqlite-store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pcm-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pcm bench (quick smoke)', () => {
  it('runs discovery beside its baseline and writes JSON + SVG with positive numbers', async () => {
    const s = scenarios.find((x) => x.name === 'discovery')!;
    await runScenario(s, { quick: true, resultsDir: dir, log: () => undefined });
    const r = JSON.parse(readFileSync(path.join(dir, 'discovery.json'), 'utf8')) as ScenarioResult;
    expect(r.scenario).toBe('discovery');
    expect(r.quick).toBe(true);
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.machine.cpuModel.length).toBeGreaterThan(0);
    expect(r.machine.node).toMatch(/^v\d+/);
    expect(r.rows.map((row) => row.role).sort()).toEqual(['baseline', 'pcm']);
    for (const row of r.rows) {
      expect(row.metrics.requestsPerSec).toBeGreaterThan(0);
      expect(row.metrics.ok).toBeGreaterThan(0);
      expect(row.metrics.p50Ms).toBeGreaterThan(0);
      expect(row.metrics.p99Ms).toBeGreaterThanOrEqual(row.metrics.p50Ms!);
      expect(row.metrics.p999Ms).toBeGreaterThanOrEqual(row.metrics.p99Ms!);
    }
    expect(r.ratios[0]!.value).toBeGreaterThan(0);
    expect(readFileSync(path.join(dir, 'discovery.svg'), 'utf8')).toContain('<svg');
  }, 90_000);

  it('--rounds runs the scenario once per round and publishes medians with every round kept', async () => {
    const s = scenarios.find((x) => x.name === 'discovery')!;
    const r = await runScenario(s, { quick: true, rounds: 2, resultsDir: dir, log: () => undefined });
    expect(r.rounds).toHaveLength(2);
    for (const round of r.rounds!) expect(round.rows.every((row) => row.metrics.requestsPerSec! > 0)).toBe(true);
    const perRound = r.rounds!.map((round) => round.ratios[0]!.value);
    expect(r.ratios[0]!.rounds).toEqual(perRound.map((v) => Math.round(v * 1000) / 1000));
    expect(r.ratios[0]!.value).toBeCloseTo((perRound[0]! + perRound[1]!) / 2, 9);
    const pcm = r.rows.find((row) => row.role === 'pcm')!;
    const pcmRounds = r.rounds!.map((round) => round.rows.find((row) => row.name === pcm.name)!.metrics.requestsPerSec!);
    expect(pcm.metrics.requestsPerSec).toBeCloseTo((pcmRounds[0]! + pcmRounds[1]!) / 2, 9);
    expect(r.notes[0]).toMatch(/Median of 2 rounds/);
  }, 120_000);

  it('runs latency, unloaded and under an open-loop background load, each beside its bare baseline', async () => {
    const s = scenarios.find((x) => x.name === 'latency')!;
    await runScenario(s, { quick: true, resultsDir: dir, log: () => undefined });
    const r = JSON.parse(readFileSync(path.join(dir, 'latency.json'), 'utf8')) as ScenarioResult;
    const loaded = r.rows.filter((row) => row.metrics.backgroundPerSec !== undefined);
    expect(loaded.map((row) => row.role).sort()).toEqual(['baseline', 'pcm']);
    for (const row of r.rows) {
      expect(row.metrics.samples).toBeGreaterThan(0);
      expect(row.metrics.timeouts).toBe(0);
      expect(row.metrics.p99Ms).toBeGreaterThanOrEqual(row.metrics.p50Ms!);
    }
    // the background loader really ran at (about) its pace while the probe measured: 500/s quick
    for (const row of loaded) {
      expect(row.metrics.backgroundPerSec).toBeGreaterThan(250);
      expect(row.metrics.backgroundPerSec).toBeLessThan(600);
    }
    expect(r.ratios.find((x) => x.name === 'pcm ws p99 / bare p99 under 500 sends/s')?.target).toBe('<= 2');
  }, 120_000);

  it('fills the drain file with the measured and the warm-up terminals, interleaved', async () => {
    const fillDir = mkdtempSync(path.join(dir, 'fill-'));
    await fillDrainStore(fillDir, 3, 5, 2);
    const store = new SqliteMessageStore({ file: path.join(fillDir, 'messages.db') });
    try {
      const now = Date.now();
      for (let t = 0; t < 3; t++) {
        expect(await store.countPending(`${DRAIN_PREFIX}${t}`, now)).toBe(5);
        expect(await store.countPending(`${WARMUP_PREFIX}${t}`, now)).toBe(2);
      }
    } finally {
      await store.close();
    }
    // in arrival order (rowid), round by round: each terminal's next message, measured and warm-up side by side
    const db = new Database(path.join(fillDir, 'messages.db'), { readonly: true });
    try {
      const order = db.prepare('SELECT terminal_id FROM messages ORDER BY rowid').pluck().all();
      expect(order.slice(0, 6)).toEqual(['dr-0', 'dw-0', 'dr-1', 'dw-1', 'dr-2', 'dw-2']);
      expect(order.slice(12)).toEqual(['dr-0', 'dr-1', 'dr-2', 'dr-0', 'dr-1', 'dr-2', 'dr-0', 'dr-1', 'dr-2']);
    } finally {
      db.close();
    }
  });

  it('runs the drain after a warm-up drain of other terminals, each row measuring exactly the measured messages', async () => {
    const s = scenarios.find((x) => x.name === 'drain')!;
    await runScenario(s, { quick: true, resultsDir: dir, log: () => undefined });
    const r = JSON.parse(readFileSync(path.join(dir, 'drain.json'), 'utf8')) as ScenarioResult;
    expect(r.params).toMatchObject({ terminals: 10, perTerminal: 200, total: 2_000, warmupMessages: 400 });
    expect(r.rows.map((row) => row.role)).toEqual(['pcm', 'pcm', 'baseline']);
    for (const row of r.rows) {
      expect(row.metrics.drained).toBe(2_000);
      expect(row.metrics.drainedPerSec).toBeGreaterThan(0);
    }
    expect(r.notes.join(' ')).toMatch(/first drains \(or pushes\) 400 messages/);
  }, 120_000);

  it('runs the reconnect storm (quick: a few hundred SDK terminals): everyone comes back in all three phases, nobody is taken for flapping', async () => {
    const s = scenarios.find((x) => x.name === 'storm')!;
    await runScenario(s, { quick: true, resultsDir: dir, log: () => undefined });
    const r = JSON.parse(readFileSync(path.join(dir, 'storm.json'), 'utf8')) as ScenarioResult;
    expect(r.rows.map((row) => row.name)).toEqual([expect.stringMatching(/^\(a\) kill -9/), expect.stringMatching(/^\(b\) drain/), expect.stringMatching(/^\(c\) kill -9, discovery not told/)]);
    // (c): discovery never learns of the dead gateways; terminals homed on them fail over
    expect(r.rows[2]!.metrics.failovers).toBeGreaterThan(0);
    for (const row of r.rows) {
      expect(row.metrics.reconnected).toBe(row.metrics.terminals);
      expect(row.metrics.peakArrivalsPerSec).toBeGreaterThan(0);
      expect(row.metrics.timeToAllMs).toBeGreaterThan(0);
      expect(row.metrics.refusedFlapping).toBe(0);
    }
    expect(readFileSync(path.join(dir, 'storm-timeline.svg'), 'utf8')).toContain('<polyline');
  }, 180_000);
});
