import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needService } from '../../services/env.js';

// Smoke test of the helm test bed (issue 3, DESIGN.md section 6): the Helm 3 CLI built with
// `go install` from the Go module proxy. Install with `npm run services -- up helm`.
// Works on a minimal chart made here, so it checks the tool, not the project's chart.
const svc = needService('helm', ['PCM_TEST_HELM']);

function helm(args: string[], env: Record<string, string>): { code: number | null; out: string } {
  const r = spawnSync(svc!.PCM_TEST_HELM!, args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!svc)('helm test bed', () => {
  let dir: string;
  let chart: string;
  let env: Record<string, string>;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pcm-helm-smoke-'));
    // Keep helm's config/cache/data out of $HOME so parallel runs never share state.
    env = {
      HELM_CONFIG_HOME: path.join(dir, 'config'),
      HELM_CACHE_HOME: path.join(dir, 'cache'),
      HELM_DATA_HOME: path.join(dir, 'data'),
    };
    chart = path.join(dir, 'smoke');
    mkdirSync(path.join(chart, 'templates'), { recursive: true });
    writeFileSync(
      path.join(chart, 'Chart.yaml'),
      'apiVersion: v2\nname: smoke\ndescription: pcm helm smoke chart\nversion: 0.1.0\nappVersion: "1.0"\nicon: https://example.invalid/icon.png\n',
    );
    writeFileSync(path.join(chart, 'values.yaml'), 'replicas: 2\nmessage: hello\n');
    writeFileSync(
      path.join(chart, 'templates', 'configmap.yaml'),
      [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        '  name: {{ .Release.Name }}-smoke',
        '  namespace: {{ .Release.Namespace }}',
        'data:',
        '  replicas: {{ .Values.replicas | quote }}',
        '  message: {{ required "message is required" .Values.message | quote }}',
        '',
      ].join('\n'),
    );
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the pinned version', () => {
    const r = helm(['version', '--template', '{{.Version}}'], env);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^v3\.\d+\.\d+$/);
    if (svc!.PCM_TEST_HELM_VERSION) expect(r.out).toBe(svc!.PCM_TEST_HELM_VERSION);
  });

  it('lints the minimal chart', () => {
    const r = helm(['lint', '--strict', chart], env);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('renders it with values and namespace', () => {
    const r = helm(['template', 'rel', chart, '--namespace', 'pcm-smoke', '--set', 'replicas=3'], env);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('name: rel-smoke');
    expect(r.out).toContain('namespace: pcm-smoke');
    expect(r.out).toContain('replicas: "3"');
    expect(r.out).toContain('message: "hello"');
  });

  it('fails rendering when a required value is missing', () => {
    const r = helm(['template', 'rel', chart, '--set', 'message=null'], env);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('message is required');
  });
});
