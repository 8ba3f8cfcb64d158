import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** `pcm operator` as users run it: help, and configuration errors that name the field. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pcm = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin/pcm.js'), 'operator', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig' } });

describe('pcm operator CLI', () => {
  it('--help lists the options and the configuration table', () => {
    const r = pcm('--help');
    expect(r.status).toBe(0);
    for (const flag of ['--kubeconfig', '--namespace', '--lease-namespace', '--resync-seconds']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('| `PCM_LEASE_DURATION_SECONDS` | `--lease-duration-seconds` | `15` |');
  });

  it('rejects bad configuration naming the field, before touching any cluster', () => {
    const bad = pcm('--resync-seconds', '0');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/PCM_ERR_CONFIG: invalid configuration: resyncSeconds \(PCM_RESYNC_SECONDS \/ --resync-seconds\)/);
    const order = pcm('--lease-duration-seconds', '5', '--renew-deadline-seconds', '5');
    expect(order.stderr).toMatch(/renewDeadlineSeconds \(PCM_RENEW_DEADLINE_SECONDS\) must be less than leaseDurationSeconds/);
    const kc = pcm('--kubeconfig', '/nonexistent/kubeconfig');
    expect(kc.status).toBe(1);
    expect(kc.stderr).toMatch(/PCM_ERR_CONFIG: invalid configuration: kubeconfig \(PCM_KUBECONFIG \/ --kubeconfig\)/);
  }, 120_000);
});
