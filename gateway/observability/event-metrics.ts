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
  /** terminalId -> the seqs accepted here and not acked yet, with their send times. Bounded: 50,000 terminals, 256 seqs each. */
  private readonly sentAt = new LRUCache<string, SentTimes>({ max: 50_000 });

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
        if (!m) this.sentAt.set(e.terminalId, (m = new SentTimes()));
        m.add(e.seq, e.at);
        break;
      }
      case 'acked': {
        if (e.seq === undefined) break;
        this.sentAt.get(e.terminalId)?.ackUpTo(e.seq, e.at, this.sendToAck);
        break;
      }
      case 'expired':
        if (e.seq !== undefined) this.sentAt.get(e.terminalId)?.remove(e.seq);
        break;
    }
  }
}

/**
 * One terminal's unacked sends, oldest first: two parallel arrays used as a queue. A gateway
 * assigns a terminal's seqs in increasing order, so a cumulative ack takes entries from the
 * front, with no hashing or map churn per message. At most SENT_TIMES_MAX entries (the oldest
 * is forgotten first, unobserved).
 */
export class SentTimes {
  private seqs: number[] = [];
  private ats: number[] = [];
  private head = 0;

  add(seq: number, at: number): void {
    if (this.seqs.length - this.head >= SENT_TIMES_MAX) {
      this.head++; // forget the oldest: a terminal that never acks must not grow this
      this.compact();
    }
    this.seqs.push(seq);
    this.ats.push(at);
  }

  /** Slots held, forgotten ones included (at most twice SENT_TIMES_MAX): for tests. */
  get slots(): number {
    return this.seqs.length;
  }

  /**
   * Observes the send-to-ack time of the entries up to `seq` and forgets them. Seqs are added in
   * increasing order (see above), so this stops at the first one above the ack.
   */
  ackUpTo(seq: number, ackedAt: number, latency: { observe(seconds: number): void }): void {
    const { seqs, ats } = this;
    let i = this.head;
    // !(x > seq) also steps over removed entries (NaN), without observing them
    for (; i < seqs.length && !(seqs[i]! > seq); i++) if (!Number.isNaN(seqs[i])) latency.observe(Math.max(0, ackedAt - ats[i]!) / 1000);
    if (i === seqs.length) {
      this.seqs = [];
      this.ats = [];
      this.head = 0;
      return;
    }
    this.head = i;
    this.compact();
  }

  /** Forgets one seq (expired: it will never be acked as delivered). */
  remove(seq: number): void {
    const i = this.seqs.indexOf(seq, this.head);
    if (i >= 0) this.seqs[i] = Number.NaN;
  }

  /** Drops what the head passed once it is most of the arrays (amortized O(1) per entry). */
  private compact(): void {
    if (this.head < 64 || this.head * 2 < this.seqs.length) return;
    this.seqs = this.seqs.slice(this.head);
    this.ats = this.ats.slice(this.head);
    this.head = 0;
  }
}

const SENT_TIMES_MAX = 256;

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
