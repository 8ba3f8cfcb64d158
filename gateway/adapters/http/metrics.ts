import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FastHistogram, type HistogramSeries } from '../../observability/fast-histogram.js';
import type { Protocol } from '../../../protocol/frames.js';
import type { EngineMetrics } from '../../core/metrics.js';

/**
 * Prometheus metrics of one gateway (`GET /metrics`), all named `pcm_*`. One registry per
 * app instance, so several gateways in one test process do not collide.
 */
export class GatewayMetrics implements EngineMetrics {
  readonly registry = new Registry();
  private readonly acceptedC: Counter;
  private readonly deliveredC: Counter<'protocol'>;
  private readonly ackedC: Counter;
  private readonly expiredC: Counter;
  private readonly resyncedC: Counter;
  private readonly refusedC: Counter;
  private readonly flapRefusedC: Counter;
  private readonly flappingC: Counter;
  private readonly queueFullC: Counter;
  private readonly purgedC: Counter;
  private readonly rejectedC: Counter<'code'>;
  private readonly framesRejectedC: Counter<'code'>;
  private readonly sessionsOpenedC: Counter<'protocol'>;
  private readonly latency: FastHistogram<'protocol'>;
  private readonly deliveredBy = new Map<Protocol, { count: ReturnType<Counter<'protocol'>['labels']>; latency: HistogramSeries }>();

  constructor(sessionCounts: () => Record<Protocol, number>, opts: { defaultMetrics?: boolean; isDraining?: () => boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'pcm_gateway_' });
    new Gauge({
      name: 'pcm_sessions',
      help: 'Connected terminal sessions on this gateway, by protocol.',
      labelNames: ['protocol'],
      registers,
      collect() {
        const c = sessionCounts();
        for (const p of Object.keys(c) as Protocol[]) this.set({ protocol: p }, c[p]);
      },
    });
    this.sessionsOpenedC = new Counter({ name: 'pcm_sessions_opened_total', help: 'Sessions opened, by protocol.', labelNames: ['protocol'], registers });
    this.acceptedC = new Counter({ name: 'pcm_messages_accepted_total', help: 'Messages durably stored and answered 202 (idempotent replays excluded).', registers });
    this.deliveredC = new Counter({ name: 'pcm_messages_delivered_total', help: 'Message frames written to terminals (redeliveries included), by protocol.', labelNames: ['protocol'], registers });
    this.ackedC = new Counter({ name: 'pcm_messages_acked_total', help: 'Messages covered by terminal acks that moved the cursor.', registers });
    this.expiredC = new Counter({ name: 'pcm_messages_expired_total', help: 'Messages the gateway found expired and did not deliver (ttlSeconds 0 with no connected terminal, or TTL passed before the write); messages expiring unseen in the store are not counted.', registers });
    this.resyncedC = new Counter({ name: 'pcm_resync_pumps_total', help: 'Sessions the periodic resync found behind the store counter and drained (lost or late relay events).', registers });
    this.refusedC = new Counter({ name: 'pcm_connections_refused_total', help: 'Terminal connections refused by admission control (PCM_MAX_CONNECTS_PER_SECOND), WebSocket and MQTT.', registers });
    this.flapRefusedC = new Counter({ name: 'pcm_connections_flapping_refused_total', help: 'Terminal connects refused by flapping detection (PCM_FLAP_MAX_CONNECTS per PCM_FLAP_WINDOW_SECONDS), WebSocket and MQTT; early returns during a penalty included.', registers });
    this.queueFullC = new Counter({ name: 'pcm_messages_refused_queue_full_total', help: 'Messages (single sends, fan-out copies, requests) refused with PCM_ERR_QUEUE_FULL because their terminal already held PCM_MAX_PENDING_PER_TERMINAL pending messages; nothing was stored for them.', registers });
    this.purgedC = new Counter({ name: 'pcm_messages_purged_total', help: 'Pending messages an admin purge (DELETE /v1/admin/terminals/{id}/messages, pcm purge) acked on their terminal\'s behalf: accepted, never delivered.', registers });
    this.flappingC = new Counter({ name: 'pcm_terminals_flapping_total', help: 'Penalties started by flapping detection (a terminal caught connecting too often; once per penalty).', registers });
    if (opts.isDraining) {
      const isDraining = opts.isDraining;
      new Gauge({ name: 'pcm_draining', help: '1 while this gateway is draining (marked in the assignments), else 0.', registers, collect() { this.set(isDraining() ? 1 : 0); } });
    }
    this.rejectedC = new Counter({ name: 'pcm_messages_rejected_total', help: 'Sender API requests rejected, by PCM_ERR_* code.', labelNames: ['code'], registers });
    this.framesRejectedC = new Counter({ name: 'pcm_frames_rejected_total', help: 'Terminal frames answered with an error frame, by PCM_ERR_* code.', labelNames: ['code'], registers });
    // once per delivered message: FastHistogram (fast-histogram.ts), exposed as prom-client's
    this.latency = new FastHistogram({
      name: 'pcm_send_to_deliver_seconds',
      help: 'Time from a message being stored to its frame being written to the terminal.',
      labelNames: ['protocol'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600],
      registers,
    });
  }

  accepted(): void {
    this.acceptedC.inc();
  }
  delivered(protocol: Protocol, latencyMs: number): void {
    // per-protocol label children, bound on first use (once per message: no label hashing)
    let bound = this.deliveredBy.get(protocol);
    if (!bound) this.deliveredBy.set(protocol, (bound = { count: this.deliveredC.labels({ protocol }), latency: this.latency.labels({ protocol }) }));
    bound.count.inc();
    bound.latency.observe(latencyMs / 1000);
  }
  acked(count: number): void {
    this.ackedC.inc(count);
  }
  connectionRefused(): void {
    this.refusedC.inc();
  }

  purged(count: number): void {
    this.purgedC.inc(count);
  }
  queueFull(): void {
    this.queueFullC.inc();
  }
  flapRefused(flagged: boolean): void {
    this.flapRefusedC.inc();
    if (flagged) this.flappingC.inc();
  }

  resynced(): void {
    this.resyncedC.inc();
  }

  expired(count: number): void {
    this.expiredC.inc(count);
  }
  sessionOpened(protocol: Protocol): void {
    this.sessionsOpenedC.inc({ protocol });
  }
  sessionClosed(): void {
    /* pcm_sessions is collected from the registry on scrape */
  }
  frameRejected(code: string): void {
    this.framesRejectedC.inc({ code });
  }
  rejected(code: string): void {
    this.rejectedC.inc({ code });
  }
}
