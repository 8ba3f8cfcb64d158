import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { PcmError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { systemClock, type Clock } from '../common/clock.js';
import type { OperatorConfig } from './config.js';
import { KubeClient } from './kube/client.js';
import { Operator, type OperatorOptions } from './controller/manager.js';
import { OperatorMetrics } from './health/metrics.js';
import { startHealthServer } from './health/server.js';

/**
 * Wiring only (DESIGN.md section 7): config -> kubeconfig -> client -> operator.
 */
const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new PcmError('PCM_ERR_CONFIG', `invalid configuration: kubeconfig (PCM_KUBECONFIG / --kubeconfig): ${(err as Error).message}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: kubeconfig (PCM_KUBECONFIG / --kubeconfig): no current cluster');
  return kc;
}

function podNamespace(): string | undefined {
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface StartedOperator {
  operator: Operator;
  kube: KubeClient;
  metrics: OperatorMetrics;
  /** Resolves to the bound health port (config.healthPort, or the ephemeral one for 0). */
  health: Promise<{ port: number; close(): Promise<void> }>;
  stop(): Promise<void>;
}

export function startOperator(
  config: Readonly<OperatorConfig>,
  opts: { logger?: Logger; clock?: Clock; kubeConfig?: KubeConfig; onPass?: OperatorOptions['onPass']; onPassStart?: OperatorOptions['onPassStart']; defaultMetrics?: boolean } = {},
): StartedOperator {
  const log = opts.logger ?? createLogger('operator', config.logLevel);
  if (config.renewDeadlineSeconds >= config.leaseDurationSeconds) {
    throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: renewDeadlineSeconds (PCM_RENEW_DEADLINE_SECONDS) must be less than leaseDurationSeconds');
  }
  const kubeConfig = opts.kubeConfig ?? loadKubeConfig(config.kubeconfig);
  const kube = new KubeClient(kubeConfig, { fieldManager: 'pcm-operator' });
  const identity = config.identity || `${hostname()}-${process.pid}`;
  const metrics = new OperatorMetrics({ defaultMetrics: opts.defaultMetrics ?? false });
  const operator = new Operator({
    kube,
    kubeConfig,
    namespace: config.namespace || undefined,
    identity,
    leaseNamespace: config.leaseNamespace || config.namespace || podNamespace() || 'default',
    leaseName: config.leaseName,
    leaseDurationMs: config.leaseDurationSeconds * 1000,
    renewDeadlineMs: config.renewDeadlineSeconds * 1000,
    retryPeriodMs: config.retryPeriodSeconds * 1000,
    resyncMs: config.resyncSeconds * 1000,
    clock: opts.clock ?? systemClock,
    log: log.child({ identity }),
    onPass: (key, outcome, err) => {
      metrics.passEnd(key, outcome, err);
      opts.onPass?.(key, outcome, err);
    },
    onPassStart: (key) => {
      metrics.passStart(key);
      opts.onPassStart?.(key);
    },
  });
  const health = startHealthServer(operator, metrics, config.healthPort);
  // A port already in use is a config error the pod log must show; the CLI exits on it.
  health.catch((err: unknown) => log.error({ err, port: config.healthPort }, 'health server failed to listen'));
  operator.start();
  const stop = async () => {
    await operator.stop();
    await (await health.catch(() => undefined))?.close();
  };
  return { operator, kube, metrics, health, stop };
}
