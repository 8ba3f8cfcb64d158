import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { PcmError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { systemClock, type Clock } from '../common/clock.js';
import type { OperatorConfig } from './config.js';
import { KubeClient } from './kube/client.js';
import { Operator, type OperatorOptions } from './controller/manager.js';

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
  stop(): Promise<void>;
}

export function startOperator(
  config: Readonly<OperatorConfig>,
  opts: { logger?: Logger; clock?: Clock; kubeConfig?: KubeConfig; onPass?: OperatorOptions['onPass']; onPassStart?: OperatorOptions['onPassStart'] } = {},
): StartedOperator {
  const log = opts.logger ?? createLogger('operator', config.logLevel);
  if (config.renewDeadlineSeconds >= config.leaseDurationSeconds) {
    throw new PcmError('PCM_ERR_CONFIG', 'invalid configuration: renewDeadlineSeconds (PCM_RENEW_DEADLINE_SECONDS) must be less than leaseDurationSeconds');
  }
  const kubeConfig = opts.kubeConfig ?? loadKubeConfig(config.kubeconfig);
  const kube = new KubeClient(kubeConfig, { fieldManager: 'pcm-operator' });
  const identity = config.identity || `${hostname()}-${process.pid}`;
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
    onPass: opts.onPass,
    onPassStart: opts.onPassStart,
  });
  operator.start();
  return { operator, kube, stop: () => operator.stop() };
}
