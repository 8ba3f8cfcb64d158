import type { Command } from 'commander';
import { describeConfig } from '../../common/config.js';
import { OperatorConfigSchema, loadOperatorConfig } from '../../operator/config.js';
import { startOperator } from '../../operator/main.js';

/** `pcm operator`: reconciles PCMCluster resources (DESIGN.md section 1, issue 6). */
export function register(program: Command): void {
  program
    .command('operator')
    .description(
      'Run the PCM Kubernetes operator: reconciles PCMCluster (pcm.dev/v1alpha1) into gateways, discovery and assignments.\n' +
        'Uses --kubeconfig, else $KUBECONFIG / ~/.kube/config, else the in-cluster service account. Replicas elect a leader on a Lease.',
    )
    .option('--kubeconfig <path>', 'kubeconfig file (PCM_KUBECONFIG)')
    .option('--namespace <ns>', 'watch only this namespace (PCM_NAMESPACE; default: all namespaces)')
    .option('--lease-namespace <ns>', 'namespace of the leader-election Lease (PCM_LEASE_NAMESPACE)')
    .option('--lease-name <name>', 'leader-election Lease name (PCM_LEASE_NAME, default pcm-operator)')
    .option('--identity <id>', 'this replica in the Lease (PCM_IDENTITY, default hostname-pid)')
    .option('--lease-duration-seconds <s>', 'PCM_LEASE_DURATION_SECONDS, default 15')
    .option('--renew-deadline-seconds <s>', 'PCM_RENEW_DEADLINE_SECONDS, default 10')
    .option('--retry-period-seconds <s>', 'PCM_RETRY_PERIOD_SECONDS, default 2')
    .option('--resync-seconds <s>', 'reconcile every cluster at least this often (PCM_RESYNC_SECONDS, default 60)')
    .option('--health-port <port>', '/healthz, /readyz, /metrics port (PCM_HEALTH_PORT, default 8082)')
    .option('--log-level <level>', 'pino log level (PCM_LOG_LEVEL, default info)')
    .addHelpText('after', '\nConfiguration (flag > env > default):\n| env | flag | default | description |\n|---|---|---|---|\n' + describeConfig(OperatorConfigSchema).join('\n'))
    .action(async (opts: Record<string, string | undefined>) => {
      const config = loadOperatorConfig({
        flags: {
          kubeconfig: opts.kubeconfig,
          namespace: opts.namespace,
          leaseNamespace: opts.leaseNamespace,
          leaseName: opts.leaseName,
          identity: opts.identity,
          leaseDurationSeconds: opts.leaseDurationSeconds,
          renewDeadlineSeconds: opts.renewDeadlineSeconds,
          retryPeriodSeconds: opts.retryPeriodSeconds,
          resyncSeconds: opts.resyncSeconds,
          healthPort: opts.healthPort,
          logLevel: opts.logLevel,
        },
      });
      const running = startOperator(config, { defaultMetrics: true });
      running.health.catch((err: unknown) => {
        process.stderr.write(`pcm operator: health port ${config.healthPort}: ${(err as Error).message}\n`);
        process.exit(1);
      });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`pcm operator: ${signal}, shutting down\n`);
        running.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`pcm operator: shutdown failed: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      // Leading ended without a stop request: leadership was lost. Exit so the pod restarts
      // and campaigns afresh (client-go does the same); never reconcile without the lease.
      await running.operator.done();
      if (!stopping) {
        process.stderr.write('pcm operator: leadership lost, exiting\n');
        process.exit(2);
      }
    });
}
