import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { needService } from '../../services/env.js';

// Smoke test of the prometheus test bed (DESIGN.md section 6): promtool built with `go install`
// from the Go module proxy, and the Prometheus Operator's CRDs from its module. Install with
// `npm run services -- up prometheus`. Works on a tiny rule file made here, so it checks the
// tools, not PCM's rules (test/integration/alerts/alerts.test.ts does that).
const svc = needService('prometheus', ['PCM_TEST_PROMTOOL', 'PCM_TEST_PROMETHEUS_OPERATOR_CRDS']);

describe.skipIf(!svc)('prometheus test bed', () => {
  let dir: string;
  const promtool = (args: string[]) => {
    const r = spawnSync(svc!.PCM_TEST_PROMTOOL!, args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw r.error;
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-prom-smoke-'));
    writeFileSync(path.join(dir, 'ok.yaml'), 'groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 1m\n');
    writeFileSync(path.join(dir, 'bad.yaml'), 'groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m])\n');
    writeFileSync(
      path.join(dir, 'ok.test.yaml'),
      "rule_files: [ok.yaml]\ntests:\n  - interval: 1m\n    input_series:\n      - { series: 'up{job=\"a\"}', values: '1 0 0 0' }\n    alert_rule_test:\n      - { eval_time: 1m, alertname: Down }\n      - { eval_time: 3m, alertname: Down, exp_alerts: [ { exp_labels: { job: a } } ] }\n",
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('promtool runs, accepts a good rule file and refuses a broken expression', () => {
    expect(promtool(['--version']).out).toMatch(/^promtool/);
    expect(promtool(['check', 'rules', 'ok.yaml']).code).toBe(0);
    const bad = promtool(['check', 'rules', 'bad.yaml']);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/parse error|unclosed/i);
  });

  it('promtool test rules evaluates alerts over synthetic series', () => {
    const r = promtool(['test', 'rules', 'ok.test.yaml']);
    expect(r.code, r.out).toBe(0);
  });

  it('the Prometheus Operator CRDs for PrometheusRule and PodMonitor are there', () => {
    for (const [file, kind] of [
      ['monitoring.coreos.com_prometheusrules.yaml', 'PrometheusRule'],
      ['monitoring.coreos.com_podmonitors.yaml', 'PodMonitor'],
    ] as const) {
      const p = path.join(svc!.PCM_TEST_PROMETHEUS_OPERATOR_CRDS!, file);
      expect(existsSync(p), p).toBe(true);
      const crd = parseYaml(readFileSync(p, 'utf8')) as { kind: string; spec: { group: string; names: { kind: string } } };
      expect(crd.kind).toBe('CustomResourceDefinition');
      expect(crd.spec.group).toBe('monitoring.coreos.com');
      expect(crd.spec.names.kind).toBe(kind);
    }
  });
});
