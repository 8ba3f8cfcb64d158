import { Type, type Static } from 'typebox';
import { loadConfig, type LoadOptions } from '../common/config.js';

/**
 * `pcm operator` configuration (DESIGN.md section 7: one TypeBox schema per process,
 * validated and frozen at start; env PCM_<NAME> < flags).
 */
export const OperatorConfigSchema = Type.Object({
  kubeconfig: Type.String({ default: '', description: 'kubeconfig file; empty = $KUBECONFIG, ~/.kube/config, or the in-cluster service account.' }),
  namespace: Type.String({ default: '', maxLength: 63, description: 'Namespace to watch; empty = all namespaces (needs cluster-wide RBAC).' }),
  leaseNamespace: Type.String({ default: '', maxLength: 63, description: 'Namespace of the leader-election Lease; empty = --namespace, else the pod\'s namespace, else `default`.' }),
  leaseName: Type.String({ default: 'pcm-operator', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', description: 'Name of the leader-election Lease.' }),
  identity: Type.String({ default: '', description: 'This replica\'s identity in the Lease; empty = hostname + pid.' }),
  leaseDurationSeconds: Type.Integer({ minimum: 2, maximum: 300, default: 15, description: 'A leader that stops renewing is replaced after this long.' }),
  renewDeadlineSeconds: Type.Integer({ minimum: 1, maximum: 299, default: 10, description: 'A leader that could not renew for this long stops reconciling (must be < lease duration).' }),
  retryPeriodSeconds: Type.Number({ minimum: 0.1, maximum: 60, default: 2, description: 'Lease acquire/renew interval.' }),
  resyncSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 60, description: 'Every cluster is reconciled at least this often.' }),
  healthPort: Type.Integer({ minimum: 0, maximum: 65_535, default: 8082, description: 'Port of /healthz, /readyz and /metrics (0 = ephemeral; the chart probes 8082).' }),
  logLevel: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info', description: 'pino log level.' }),
});

export type OperatorConfig = Static<typeof OperatorConfigSchema>;

export function loadOperatorConfig(opts: LoadOptions = {}): Readonly<OperatorConfig> {
  return loadConfig(OperatorConfigSchema, opts);
}
