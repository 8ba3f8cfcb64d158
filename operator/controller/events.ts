import type { Logger } from '../../common/logger.js';
import type { Clock } from '../../common/clock.js';
import { API_VERSION, KIND } from '../api/group.js';
import type { PCMCluster } from '../api/schema.js';
import type { KubeClient } from '../kube/client.js';
import type { KubeObject } from '../kube/object.js';

/**
 * Kubernetes Events on the PCMCluster for what the operator created, deleted or failed to do
 * (`kubectl describe pcmcluster` shows them). Best effort: an event that cannot be written is
 * logged and never fails a pass.
 */
export class EventRecorder {
  constructor(
    private readonly kube: KubeClient,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly instance: string,
  ) {}

  async record(cluster: PCMCluster, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.clock.now()).toISOString();
    try {
      await this.kube.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${cluster.metadata.name}.`, namespace: cluster.metadata.namespace } as unknown as KubeObject['metadata'],
        involvedObject: { apiVersion: API_VERSION, kind: KIND, name: cluster.metadata.name, namespace: cluster.metadata.namespace, uid: cluster.metadata.uid },
        reason,
        message: message.slice(0, 1024),
        type,
        source: { component: 'pcm-operator' },
        reportingComponent: 'pcm-operator',
        reportingInstance: this.instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (err) {
      this.log.warn({ err, reason }, 'could not record event');
    }
  }
}
