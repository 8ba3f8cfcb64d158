/**
 * PCM's alerting rules (charts/pcm/alerts/pcm-alerts.yaml, docs/runbook.md):
 *  - every metric they read exists: documented (docs/observability.md, docs/metrics.md) and exposed by the
 *    process that owns it (a live gateway, the discovery app, the operator's registry);
 *  - every alert routes (severity) and explains itself (summary, description, a runbook
 *    section that exists);
 *  - `promtool check rules` accepts the file, and `promtool test rules` (pcm-alerts.test.yaml)
 *    shows each alert firing on its bad signal after its `for`, and quiet on a healthy fleet;
 *  - the chart's PrometheusRule carries exactly these groups (plus runbook_url when asked),
 *    and promtool accepts the rendered rules too.
 * promtool comes from the test bed (`npm run services -- up prometheus`); without it those
 * cases fail in CI and are skipped elsewhere (needService).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { needService, repoRoot } from '../../services/env.js';
import { startGateway, type TestGateway } from '../../e2e/harness.js';
import { GatewayMetrics } from '../../../gateway/adapters/http/metrics.js';
import { buildDiscoveryApp } from '../../../discovery/http/app.js';
import { StaticGatewaySource } from '../../../discovery/sources/static.js';
import { OperatorMetrics } from '../../../operator/health/metrics.js';
import { silentLogger } from '../../../common/logger.js';
import { Helm } from '../helm/helm.js';

const alertsDir = path.join(repoRoot, 'charts/pcm/alerts');
const rulesFile = path.join(alertsDir, 'pcm-alerts.yaml');
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Group {
  name: string;
  rules: Rule[];
}
const groups = (parseYaml(readFileSync(rulesFile, 'utf8')) as { groups: Group[] }).groups;
const rules = groups.flatMap((g) => g.rules);
const observability = ['docs/observability.md', 'docs/metrics.md'].map((f) => readFileSync(path.join(repoRoot, f), 'utf8')).join('\n');
const runbook = readFileSync(path.join(repoRoot, 'docs/runbook.md'), 'utf8');
/** Metric names an expression reads (histogram series folded to their family). */
const metricNames = (expr: string) => [...expr.matchAll(/\bpcm_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''));
const names = [...new Set(rules.flatMap((r) => metricNames(r.expr)))];

const promtoolEnv = needService('prometheus', ['PCM_TEST_PROMTOOL']);
const helmEnv = needService('helm', ['PCM_TEST_HELM']);

function promtool(args: string[], cwd: string) {
  const r = spawnSync(promtoolEnv!.PCM_TEST_PROMTOOL!, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

describe('PCM alerting rules', () => {
  let gw: TestGateway;
  const exposed = new Set<string>();
  beforeAll(async () => {
    gw = await startGateway({ mqtt: false, sqlite: true }); // SQLite: its store metrics (pcm_store_sqlite_writer) are exposed too
    const discovery = buildDiscoveryApp({ config: { terminalJwtSecret: 'alerts-test-secret-0123456789', discoveryPollSeconds: 60 }, source: new StaticGatewaySource([{ id: 'gw-0', websocketUrl: 'ws://127.0.0.1:1/v1/connect', mqttUrl: 'mqtt://127.0.0.1:2' }]), logger: silentLogger });
    const texts = [
      await (await fetch(`${gw.base}/metrics`)).text(),
      // the process metrics `pcm gateway` registers (defaultMetrics), which the test gateway leaves out
      await new GatewayMetrics(() => ({ websocket: 0, mqtt: 0 }), { defaultMetrics: true }).registry.metrics(),
      (await discovery.inject({ method: 'GET', url: '/metrics' })).body,
      await new OperatorMetrics().registry.metrics(),
    ];
    await discovery.close();
    for (const t of texts) for (const m of t.matchAll(/^# TYPE (pcm_[a-z0-9_]+) /gm)) exposed.add(m[1]!);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('reads only metrics that exist: documented, and exposed by the process that owns them', () => {
    expect(rules.length).toBeGreaterThanOrEqual(15);
    expect(names.length).toBeGreaterThanOrEqual(15);
    // the process metrics are documented as the pcm_gateway_* family
    expect(names.filter((n) => !observability.includes(`\`${n}`) && !(n.startsWith('pcm_gateway_') && observability.includes('`pcm_gateway_*`')))).toEqual([]);
    expect(names.filter((n) => !exposed.has(n))).toEqual([]);
  });

  it('every alert has a unique PCM name, a severity, a summary, a description and a runbook section that exists', () => {
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect(r.alert, r.alert).toMatch(/^PCM[A-Z][A-Za-z]+$/);
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary?.length, r.alert).toBeGreaterThan(10);
      expect(r.annotations?.description?.length, r.alert).toBeGreaterThan(40);
      expect(r.annotations?.runbook, r.alert).toBe(`docs/runbook.md#${r.alert.toLowerCase()}`);
      // GitHub's anchor for "### PCMNoAssignableGateway" is #pcmnoassignablegateway
      expect(runbook, `docs/runbook.md has no section for ${r.alert}`).toMatch(new RegExp(`^### ${r.alert}$`, 'm'));
    }
    // and the runbook documents no alert that does not exist
    const documented = [...runbook.matchAll(/^### (PCM[A-Za-z]+)$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(rules.map((r) => r.alert).sort());
  });

  it('every alert is exercised by pcm-alerts.test.yaml, firing at least once', () => {
    const tests = parseYaml(readFileSync(path.join(alertsDir, 'pcm-alerts.test.yaml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts?: unknown[] }[] }[] };
    const firing = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => (a.exp_alerts ?? []).length > 0).map((a) => a.alertname)));
    expect(rules.map((r) => r.alert).filter((a) => !firing.has(a))).toEqual([]);
  });

  describe.skipIf(!promtoolEnv)('with promtool', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'pcm-alerts-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('promtool check rules accepts the file (PromQL and annotation templates)', () => {
      const r = promtool(['check', 'rules', rulesFile], alertsDir);
      expect(r.status, r.out).toBe(0);
      expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    });

    it('promtool test rules: each alert fires on its signal after its `for`, none on a healthy fleet', () => {
      // The unit tests assert labels (what routes a page); the annotations' templates are
      // checked above, so the copy under test leaves them out.
      const bare = { groups: groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) })) };
      writeFileSync(path.join(dir, 'pcm-alerts.yaml'), toYaml(bare));
      copyFileSync(path.join(alertsDir, 'pcm-alerts.test.yaml'), path.join(dir, 'pcm-alerts.test.yaml'));
      const r = promtool(['test', 'rules', 'pcm-alerts.test.yaml'], dir);
      expect(r.status, r.out).toBe(0);
      expect(r.out).toContain('SUCCESS');
    });

    it('the unit tests can fail: an alert without its `for` fires too early and promtool says so', () => {
      const broken = { groups: groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, for: f, ...r }) => (r.alert === 'PCMNoAssignableGateway' ? r : { ...r, for: f })) })) };
      writeFileSync(path.join(dir, 'pcm-alerts.yaml'), toYaml(broken));
      copyFileSync(path.join(alertsDir, 'pcm-alerts.test.yaml'), path.join(dir, 'pcm-alerts.test.yaml'));
      const r = promtool(['test', 'rules', 'pcm-alerts.test.yaml'], dir);
      expect(r.status).not.toBe(0);
      expect(r.out).toContain('PCMNoAssignableGateway');
    });
  });

  describe.skipIf(!helmEnv)('in the chart', () => {
    const helm = new Helm(helmEnv?.PCM_TEST_HELM ?? 'helm');

    it('prometheusRule.enabled renders a PrometheusRule with exactly these groups, plus runbook_url from runbookBaseUrl', () => {
      expect(helm.template([]).map((o) => o.kind)).not.toContain('PrometheusRule');
      const base = 'https://git.example.com/pcm/blob/main/docs/runbook.md';
      const objs = helm.template(['--set', 'prometheusRule.enabled=true', '--set', `prometheusRule.runbookBaseUrl=${base}`, '--set', 'prometheusRule.labels.release=kps']);
      const pr = objs.find((o) => o.kind === 'PrometheusRule')!;
      expect(pr.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(pr.metadata.labels).toMatchObject({ release: 'kps' });
      const rendered = (pr.spec as { groups: Group[] }).groups;
      const expected = groups.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, annotations: { ...r.annotations, runbook_url: `${base}#${r.alert.toLowerCase()}` } })) }));
      expect(rendered).toEqual(expected);
      if (promtoolEnv) {
        const dir = mkdtempSync(path.join(tmpdir(), 'pcm-alerts-chart-'));
        try {
          writeFileSync(path.join(dir, 'rendered.yaml'), toYaml({ groups: rendered }));
          const r = promtool(['check', 'rules', 'rendered.yaml'], dir);
          expect(r.status, r.out).toBe(0);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    });

    it('podMonitor.enabled renders a PodMonitor over every namespace: port http (gateways, discovery) and health (operator)', () => {
      expect(helm.template([]).map((o) => o.kind)).not.toContain('PodMonitor');
      const pm = helm.template(['--set', 'podMonitor.enabled=true', '--set', 'podMonitor.interval=15s', '--set', 'nameOverride=pcmx']).find((o) => o.kind === 'PodMonitor')!;
      const spec = pm.spec as { namespaceSelector: unknown; selector: { matchExpressions: { key: string; values: string[] }[] }; podMetricsEndpoints: { port: string; path: string; interval: string }[] };
      expect(spec.namespaceSelector).toEqual({ any: true });
      // the operator's pods are app.kubernetes.io/name=pcm whatever the chart is called; the chart's operator pod carries the chart name
      expect(spec.selector.matchExpressions).toEqual([{ key: 'app.kubernetes.io/name', operator: 'In', values: ['pcm', 'pcmx'] }]);
      expect(spec.podMetricsEndpoints).toEqual([
        { port: 'http', path: '/metrics', interval: '15s' },
        { port: 'health', path: '/metrics', interval: '15s' },
      ]);
    });
  });
});
