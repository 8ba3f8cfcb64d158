import type { Metric, Registry } from 'prom-client';

/**
 * A Prometheus histogram for the per-message paths, exposed through prom-client's registry
 * exactly as a prom-client `Histogram` with the same name, help, buckets and labels would be
 * (same `/metrics` text and JSON: fast-histogram.test.ts compares them).
 *
 * Why not prom-client's own: its `observe()`, even on a child bound with `labels()`, re-checks and
 * re-hashes the label set and keys the bucket counts by the bound's decimal text: 0.92 us per
 * call on the bench VM (`npx tsx bench/hot-path.bench.ts`); a delivered message is observed
 * four times (store append and ack, send-to-deliver, send-to-ack). Here a bound series is a
 * Float64Array of bucket counts: `observe()` is a bucket search and three additions. Exemplars
 * and `startTimer` are not offered (PCM uses neither).
 */
export class FastHistogram<L extends string = never> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly upperBounds: readonly number[];
  private readonly labelNames: readonly L[];
  private readonly series = new Map<string, HistogramSeries>();
  /** The only series of a histogram without labels (exposed at 0 from the start, as prom-client does). */
  private readonly unlabelled: HistogramSeries | undefined;

  constructor(cfg: { name: string; help: string; buckets: readonly number[]; labelNames?: readonly L[]; registers: readonly Registry[] }) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.labelNames = cfg.labelNames ?? [];
    if (this.labelNames.includes('le' as L)) throw new Error('le is a reserved label keyword');
    const sorted = [...cfg.buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) {
      throw new Error(`histogram ${cfg.name}: buckets must be distinct finite numbers`);
    }
    this.upperBounds = sorted;
    if (this.labelNames.length === 0) this.series.set('', (this.unlabelled = new HistogramSeries({}, sorted)));
    for (const r of cfg.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set, created at 0 on first use; bind once, observe many times. */
  labels(labels: Record<L, string>): HistogramSeries {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (typeof v !== 'string') throw new Error(`histogram ${this.name}: label ${n} needs a string value, got ${JSON.stringify(v)}`);
      return v;
    });
    const extra = Object.keys(labels).find((k) => !this.labelNames.includes(k as L));
    if (extra !== undefined) throw new Error(`histogram ${this.name}: unknown label ${extra}`);
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = new HistogramSeries(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]])), this.upperBounds)));
    return s;
  }

  /** Observes on the histogram without labels. */
  observe(value: number): void {
    if (!this.unlabelled) throw new Error(`histogram ${this.name} has labels: observe through labels(...)`);
    this.unlabelled.observe(value);
  }

  /** What prom-client's registry formats for `/metrics` (Histogram#getForPromString's shape). */
  async getForPromString() {
    // exemplar: null on bucket lines, as prom-client (without exemplars enabled) reports them
    const values: { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string; exemplar?: null }[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      this.upperBounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le }, sharedLabels: s.labelSet, value: acc, metricName: bucket, exemplar: null });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labelSet, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labelSet, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labelSet, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The registry's JSON form (Histogram#get: series labels merged into each value's labels). */
  async get() {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }

  /**
   * Zeroes every series (registry.resetMetrics()). Unlike prom-client, labelled series stay
   * exposed at 0: callers hold bound series, which must keep counting where a scrape sees them.
   */
  reset(): void {
    for (const s of this.series.values()) s.clear();
  }
}

/** One label set's counts: bucket i counts values in (upperBounds[i-1], upperBounds[i]]; the last one, above every bound. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labelSet: Record<string, string>,
    private readonly upperBounds: readonly number[],
  ) {
    this.counts = new Float64Array(upperBounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const b = this.upperBounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i] += 1;
    this.sum += value;
    this.count++;
  }

  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}
