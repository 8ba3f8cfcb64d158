/**
 * Shared pieces of the multi-gateway fault cases (kafka-outage, clock-skew): a terminal
 * application that records what its handler saw, a steady sender load that records every
 * send answered 202 (with the seq it carried) and every refusal (with when it happened), and
 * the checker of the fault suite: every 202 handled exactly once, in seq order per terminal.
 */
import { PcmClient, type ReceivedMessage } from '../../../client/client.js';
import { MemoryDuplicateStore } from '../../../client/duplicate-store.js';
import { silentLogger } from '../../../common/logger.js';
import type { Protocol } from '../../../protocol/frames.js';
import { mintTerminalToken } from '../../../protocol/token.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A terminal application (PcmClient): records each message its handler processed, duplicates included. */
export class FaultApp {
  readonly handled: Array<{ n: number; seq: number; at: number; message: ReceivedMessage }> = [];
  client: PcmClient | undefined;
  gateways: string[] = [];
  /** One per application, kept across restarts and moves (a device persists it). */
  private readonly duplicates = new MemoryDuplicateStore();
  constructor(
    readonly terminalId: string,
    readonly secret: string,
  ) {}

  async start(url: string, protocol: Protocol, timeoutMs = 20_000): Promise<void> {
    const client = new PcmClient({
      terminalId: this.terminalId,
      token: () => mintTerminalToken(this.secret, this.terminalId),
      protocol,
      url,
      overrides: { heartbeatMs: 2_000, backoff: { baseMs: 100, capMs: 1_000 }, connectTimeoutMs: 5_000 },
      duplicateStore: this.duplicates,
      logger: silentLogger,
      handler: (m) => {
        this.handled.push({ n: (m.payload as { n: number }).n, seq: m.seq, at: Date.now(), message: m });
        return undefined;
      },
    });
    this.client = client;
    client.on('connected', (c) => this.gateways.push(c.gatewayId ?? c.url));
    const connected = new Promise<void>((r) => client.once('connected', () => r()));
    await client.start();
    await Promise.race([connected, sleep(timeoutMs).then(() => Promise.reject(new Error(`${this.terminalId} did not connect to ${url}`)))]);
  }

  async stop(): Promise<void> {
    await this.client?.stop().catch(() => undefined);
  }

  /** The device moves: its client stops, and starts again on another gateway. */
  async move(url: string, protocol: Protocol): Promise<void> {
    await this.stop();
    await this.start(url, protocol);
  }
}

export interface Accepted {
  n: number;
  seq: number;
  at: number;
}
export interface Refused {
  status: number;
  code: string;
  startedAt: number;
  endedAt: number;
}

/**
 * `workers` senders in a loop, each waiting `pauseMs` between sends. `target(n, w)` names the
 * terminal and the gateway (base URL) of send n; the body is `{ payload: { n }, ...extra }`.
 */
export class SendLoad {
  readonly accepted = new Map<string, Accepted[]>();
  readonly refused: Refused[] = [];
  acceptedCount = 0;
  private next = 0;
  private stopped = false;
  private running: Array<Promise<void>> = [];

  constructor(
    private readonly apiKey: string,
    private readonly target: (n: number, w: number) => { terminalId: string; base: string },
    private readonly opts: { workers: number; pauseMs: number; timeoutMs?: number } = { workers: 3, pauseMs: 20 },
  ) {}

  start(): void {
    this.running = Array.from({ length: this.opts.workers }, (_, w) => this.worker(w));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  async untilAccepted(count: number, maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (this.acceptedCount < count && Date.now() < deadline) await sleep(50);
  }

  private async worker(w: number): Promise<void> {
    while (!this.stopped) {
      const n = this.next++;
      const { terminalId, base } = this.target(n, w);
      const startedAt = Date.now();
      try {
        const res = await fetch(`${base}/v1/terminals/${terminalId}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ payload: { n } }),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
        });
        const body = (await res.json().catch(() => ({}))) as { seq?: number; code?: string };
        if (res.status === 202) {
          this.acceptedCount++;
          const l = this.accepted.get(terminalId) ?? [];
          l.push({ n, seq: body.seq!, at: startedAt });
          this.accepted.set(terminalId, l);
        } else this.refused.push({ status: res.status, code: body.code ?? '', startedAt, endedAt: Date.now() });
      } catch (err) {
        this.refused.push({ status: 0, code: (err as Error).name, startedAt, endedAt: Date.now() });
      }
      await sleep(this.opts.pauseMs);
    }
  }
}

/**
 * Waits until every terminal handled every message accepted for it, by identity: a count
 * would stop early when a send refused with 503 was written anyway and delivered in place of
 * an accepted one still waiting (behind a gap, for a resync).
 */
export async function untilDelivered(load: SendLoad, apps: FaultApp[], maxMs: number): Promise<number> {
  const byId = new Map(apps.map((a) => [a.terminalId, a]));
  const started = Date.now();
  const done = () =>
    [...load.accepted].every(([id, l]) => {
      const got = new Set(byId.get(id)?.handled.map((h) => h.n));
      return l.every(({ n }) => got.has(n));
    });
  while (!done() && Date.now() - started < maxMs) await sleep(100);
  return Date.now() - started;
}

export interface CheckResult {
  accepted: number;
  handled: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  /** Per terminal with a loss: which seqs are missing. */
  lostBy: string[];
}

/**
 * The fault-suite checker (DESIGN.md 2.1-2.3): every send answered 202 handled by the
 * application exactly once; handled in ascending seq order (the seq each 202 carried).
 */
export function check(load: SendLoad, apps: FaultApp[]): CheckResult {
  const r: CheckResult = { accepted: load.acceptedCount, handled: 0, lost: 0, duplicates: 0, outOfOrder: 0, lostBy: [] };
  for (const a of apps) {
    const want = load.accepted.get(a.terminalId) ?? [];
    r.handled += a.handled.length;
    const seen = new Set<number>();
    for (const { n } of a.handled) {
      if (seen.has(n)) r.duplicates++;
      seen.add(n);
    }
    const missing = want.filter(({ n }) => !seen.has(n));
    r.lost += missing.length;
    if (missing.length > 0) r.lostBy.push(`${a.terminalId}: missing seqs ${missing.map((m) => m.seq).join(',')} (handled ${a.handled.length} of ${want.length})`);
    const seqOf = new Map(want.map(({ n, seq }) => [n, seq]));
    let last = 0;
    for (const { n } of a.handled) {
      const s = seqOf.get(n);
      if (s === undefined) continue;
      if (s < last) r.outOfOrder++;
      last = Math.max(last, s);
    }
  }
  return r;
}
