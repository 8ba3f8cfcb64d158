import { Counter, Gauge, type Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.js';
import { LRUCache } from 'lru-cache';
import type { TerminalEvent, TerminalEventSink } from '../ports/timeline.js';
import type { MessageStore } from '../ports/message-store.js';
import type { SessionIndex } from './session-index.js';

/**
 * Metrics derived from the engine's terminal events (the same hook as the timeline), so the
 * engine keeps one observer call per fact: connects and disconnects by reason, and the
 * send-to-ack latency of messages accepted and acked on this gateway (a message accepted on
 * another gateway has no send time here and is not observed).
 */
export class EventMetrics implements TerminalEventSink {
  private readonly connects: Counter<'protocol'>;
  private readonly disconnects: Counter<'protocol' | 'reason'>;
  private readonly sendToAck: FastHistogram;
  /** terminalId -> (seq -> sent at). Bounded: 50,000 terminals, 256 seqs each. */
  private readonly sentAt = new LRUCache<string, Map<number, number>>({ max: 50_000 });

  constructor(registry: Registry) {
    const registers = [registry];
    this.connects = new Counter({ name: 'pcm_connects_total', help: 'Terminal sessions that became ready (welcome sent), by protocol.', labelNames: ['protocol'], registers });
    this.disconnects = new Counter({ name: 'pcm_disconnects_total', help: 'Terminal sessions ended, by protocol and reason (connection closed, taken over, session limit, store unavailable, ...).', labelNames: ['protocol', 'reason'], registers });
    // observed for every acked message: FastHistogram (fast-histogram.ts), exposed as prom-client's
    this.sendToAck = new FastHistogram({
      name: 'pcm_send_to_ack_seconds',
      help: 'Time from a message being accepted on this gateway to the ack that covered it.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600],
      registers,
    });
  }

  record(e: TerminalEvent): void {
    switch (e.type) {
      case 'connected':
        this.connects.inc({ protocol: e.protocol ?? 'unknown' });
        break;
      case 'disconnected':
        this.disconnects.inc({ protocol: e.protocol ?? 'unknown', reason: e.reason ?? 'unknown' });
        break;
      case 'sent':
      case 'request': {
        if (e.seq === undefined) break;
        let m = this.sentAt.get(e.terminalId);
        if (!m) this.sentAt.set(e.terminalId, (m = new Map()));
        m.set(e.seq, e.at);
        if (m.size > 256) m.delete(m.keys().next().value!);
        break;
      }
      case 'acked': {
        const m = this.sentAt.get(e.terminalId);
        if (!m || e.seq === undefined) break;
        for (const [seq, at] of m) {
          if (seq > e.seq) continue;
          this.sendToAck.observe(Math.max(0, e.at - at) / 1000);
          m.delete(seq);
        }
        break;
      }
      case 'expired':
        if (e.seq !== undefined) this.sentAt.get(e.terminalId)?.delete(e.seq);
        break;
    }
  }
}

/**
 * `pcm_pending_messages_sampled`: pending messages summed over at most `sample` of this
 * gateway's connected terminals, refreshed at most every `everyMs` on scrape, so a scrape
 * costs a bounded number of store reads however many sessions the gateway holds.
 */
export function pendingGauge(registry: Registry, store: MessageStore, index: SessionIndex, opts: { sample?: number; everyMs?: number } = {}): void {
  const sample = opts.sample ?? 200;
  const everyMs = opts.everyMs ?? 10_000;
  let last = { at: 0, pending: 0, terminals: 0 };
  let running: Promise<void> | undefined;
  const refresh = async () => {
    const ids = index.search('', sample).map((s) => s.terminalId);
    const now = Date.now();
    const counts = await Promise.all(ids.map((id) => store.countPending(id, now).catch(() => 0)));
    last = { at: Date.now(), pending: counts.reduce((a, b) => a + b, 0), terminals: ids.length };
  };
  new Gauge({
    name: 'pcm_pending_messages_sampled',
    help: `Pending (unacked, unexpired) messages over a sample of at most ${sample} connected terminals of this gateway, refreshed at most every ${everyMs / 1000} s.`,
    registers: [registry],
    async collect() {
      if (Date.now() - last.at >= everyMs) await (running ??= refresh().finally(() => (running = undefined)));
      this.set(last.pending);
    },
  });
  new Gauge({
    name: 'pcm_pending_sampled_terminals',
    help: 'Terminals in the pcm_pending_messages_sampled sample.',
    registers: [registry],
    collect() {
      this.set(last.terminals);
    },
  });
}
