import { Counter, Gauge, type Registry } from 'prom-client';
import { FastHistogram, type HistogramSeries } from './fast-histogram.js';
import type { AppendResult, MessageStore } from '../ports/message-store.js';

const OPS = ['append', 'pending', 'ack', 'state', 'countPending', 'ping'] as const;
type Op = (typeof OPS)[number];

/**
 * MessageStore decorator (issue 9): times every operation and counts failures, whatever the
 * adapter (memory, SQLite, Couchbase), so no adapter carries metrics code. Also counts
 * collapses and idempotent replays, which only the append result reveals.
 */
export function instrumentStore(store: MessageStore, registry: Registry): MessageStore {
  const registers = [registry];
  // observed for every append, read and ack: FastHistogram (fast-histogram.ts), exposed as prom-client's
  const latency = new FastHistogram({
    name: 'pcm_store_operation_seconds',
    help: 'Message store operation latency, by operation and store kind (errors included).',
    labelNames: ['op', 'store'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers,
  });
  const errors = new Counter({ name: 'pcm_store_errors_total', help: 'Message store operations that failed, by operation and store kind (PCM_ERR_INVALID_ACK excluded: a caller error).', labelNames: ['op', 'store'], registers });
  const collapsed = new Counter({ name: 'pcm_messages_collapsed_total', help: 'Undelivered messages replaced by a newer one with the same collapse key (invariant 2.5).', registers });
  const replays = new Counter({ name: 'pcm_messages_idempotent_replays_total', help: 'Sends answered with the first result of the same idempotency key (invariant 2.6).', registers });
  const kind = store.kind;
  // The SQLite store says where its commits run (PCM_SQLITE_WRITER), and `auto` may move them
  // to the writer thread at run time: read at every scrape.
  const writer = store as { writerKind?: 'inline' | 'thread' };
  if (writer.writerKind !== undefined) {
    new Gauge({
      name: 'pcm_store_sqlite_writer',
      help: 'Where the SQLite store commits: 1 for the current writer (inline = on the event loop, thread = the writer thread), 0 for the other.',
      labelNames: ['writer'],
      registers,
      collect() {
        const now = writer.writerKind;
        this.set({ writer: 'inline' }, now === 'inline' ? 1 : 0);
        this.set({ writer: 'thread' }, now === 'thread' ? 1 : 0);
      },
    });
  }
  // Label children bound once: observe() with a label object re-hashes the labels per call,
  // and this runs for every append, read and ack.
  const timers = Object.fromEntries(OPS.map((op) => [op, latency.labels({ op, store: kind })])) as Record<Op, HistogramSeries>;
  const failures = Object.fromEntries(OPS.map((op) => [op, errors.labels({ op, store: kind })])) as Record<Op, ReturnType<typeof errors.labels>>;

  /**
   * Times one operation. Plain promise chaining, one `then` per call: this wraps every append,
   * read and ack, and async/await layers here cost several promises and closures each (the
   * allocation profile of the fan-out bench showed about 2 KB per delivered message). A
   * synchronous throw from the adapter becomes a rejection, as it would through an async function.
   */
  function timed<T>(op: Op, call: () => Promise<T>, onOk?: (v: T) => void): Promise<T> {
    const started = performance.now();
    let p: Promise<T>;
    try {
      p = call();
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.then(
      (v) => {
        timers[op].observe((performance.now() - started) / 1000);
        onOk?.(v);
        return v;
      },
      (err: unknown) => {
        timers[op].observe((performance.now() - started) / 1000);
        if ((err as { code?: string })?.code !== 'PCM_ERR_INVALID_ACK') failures[op].inc();
        throw err;
      },
    );
  }
  const countAppend = (r: AppendResult): void => {
    if (r.duplicate) replays.inc();
    else if (r.collapsedSeq !== undefined) collapsed.inc();
  };

  return {
    kind,
    append: (msg, now) => timed('append', () => store.append(msg, now), countAppend),
    pending: (t, q) => timed('pending', () => store.pending(t, q)),
    ack: (t, seq) => timed('ack', () => store.ack(t, seq)),
    state: (t) => timed('state', () => store.state(t)),
    countPending: (t, now) => timed('countPending', () => store.countPending(t, now)),
    // only after a PCM_ERR_QUEUE_FULL refusal of a send with an idempotency key: not timed
    findIdempotent: (t, key, now) => store.findIdempotent(t, key, now),
    ping: () => timed('ping', () => store.ping()),
    close: () => store.close(),
  };
}
