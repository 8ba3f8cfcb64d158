/**
 * The Grafana dashboard (charts/pcm/dashboards/pcm-grafana.json) only queries metrics that
 * exist: every name is in docs/observability.md, and every gateway name is on a live
 * gateway's /metrics (a renamed metric would leave a panel empty without a word).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../services/env.js';
import { startGateway, type TestGateway } from './harness.js';

const dashboard = JSON.parse(readFileSync(path.join(repoRoot, 'charts/pcm/dashboards/pcm-grafana.json'), 'utf8'));
const doc = readFileSync(path.join(repoRoot, 'docs/observability.md'), 'utf8');
const exprs: string[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
const names = [...new Set(exprs.flatMap((e) => [...e.matchAll(/\bpcm_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''))))];

let t: TestGateway;
beforeAll(async () => {
  t = await startGateway({ mqtt: false, sqlite: true }); // SQLite: its store metrics (pcm_store_sqlite_writer) are exposed too
});
afterAll(async () => {
  await t?.close();
});

describe('Grafana dashboard', () => {
  it('is a dashboard with panels and a Prometheus datasource variable', () => {
    expect(dashboard.uid).toBe('pcm-overview');
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    expect(dashboard.templating.list.map((v: any) => v.name)).toEqual(['datasource', 'job']);
  });

  it('queries only documented metrics', () => {
    expect(names.length).toBeGreaterThanOrEqual(25);
    expect(names.filter((n) => !doc.includes(`\`${n}`))).toEqual([]);
  });

  it('queries gateway metrics a live gateway exposes', async () => {
    const text = await (await fetch(`${t.base}/metrics`)).text();
    const exposed = new Set([...text.matchAll(/^# TYPE (pcm_[a-z_]+) /gm)].map((m) => m[1]));
    const gatewayNames = names.filter((n) => !n.startsWith('pcm_operator_') && !n.startsWith('pcm_discovery_'));
    expect(gatewayNames.filter((n) => !exposed.has(n))).toEqual([]);
  });
});
