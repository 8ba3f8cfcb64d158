import { randomUUID } from 'node:crypto';
import { PcmError, isPcmError, toPcmError } from '../../common/errors.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { TakeoverDamper, type TakeoverDamperOptions } from './takeover-damper.js';
import { FlapDetector, type FlapDetectorOptions } from './flap-detector.js';
import type { ErrorFrame, Protocol, ServerFrame, TerminalFrame } from '../../protocol/frames.js';
import type { AppendResult, MessageStore, QueueState, StoredMessage } from '../ports/message-store.js';
import type { Presence, SessionDirectory } from '../ports/session-directory.js';
import type { RelayBus, RelayEvent } from '../ports/relay-bus.js';
import type { TerminalConnection } from '../ports/terminal-connection.js';
import { nullLog, type CoreLog } from './log.js';
import { noopMetrics, type EngineMetrics } from './metrics.js';
import type { TerminalEvent, TerminalEventSink } from '../ports/timeline.js';
import { messageFrame } from './message-frame.js';
import { LruRegistry } from './registry.js';
import { PendingRequests, correlationGateway, newCorrelationId } from './requests.js';
import { QueueLimit } from './queue-limit.js';
import { Session } from './session.js';

export interface EngineOptions {
  gatewayId: string;
  /** Sent in `welcome`; also the presence refresh period. */
  heartbeatSeconds: number;
  /** Local session cap (PCM_MAX_SESSIONS); the least recently used session is drained. */
  maxSessions: number;
  /** Unacked messages in flight per session (bounded drain window). */
  window?: number;
  /** A connection with more bytes queued than this gets nothing more until it drains. */
  maxBufferedBytes?: number;
  /** Presence record TTL in the session directory (default 3 heartbeats). */
  presenceTtlMs?: number;
  /** `reconnectAfterMs` in drain frames (eviction, shutdown). */
  drainReconnectAfterMs?: number;
  /** How often paused (backpressure) or failed pumps are retried. */
  resumeIntervalMs?: number;
  /**
   * Resync period (PCM_RESYNC_SECONDS, issue 5): every connected session is checked against the
   * store at least once per period, so a lost relay event delays a message by at most this much
   * (invariant 2.7). 0 turns the sweep off.
   */
  resyncIntervalMs?: number;
  /** Store reads the resync sweep keeps in flight at most. */
  resyncConcurrency?: number;
  /** Takeover-loop damping (two devices, one terminal id): see takeover-damper.ts. */
  takeoverDamping?: TakeoverDamperOptions;
  /** Flapping detection (a terminal that reconnects too often is slowed down): see flap-detector.ts. */
  flapping?: FlapDetectorOptions;
  /**
   * Per-terminal queue limit (PCM_MAX_PENDING_PER_TERMINAL): sends and requests to a terminal
   * already holding this many pending messages are refused with PCM_ERR_QUEUE_FULL, nothing
   * stored (queue-limit.ts). 0 or absent = no limit.
   */
  maxPendingPerTerminal?: number;
}

/**
 * A session whose store counter stays ahead of its cursor (permanent gaps, or messages held back
 * above a transient gap) gets a full pending() read again after this many resync periods.
 */
const RESYNC_RECHECK_PERIODS = 6;

/** The resync period is covered in this many ticks, each checking a slice of the sessions. */
const RESYNC_SLICES = 4;

/** Failed presence claims retried per presence refresh (one per heartbeat). */
const CLAIM_RETRIES_PER_BEAT = 200;

export interface EngineDeps {
  store: MessageStore;
  directory: SessionDirectory;
  relay: RelayBus;
  clock?: Clock;
  log?: CoreLog;
  metrics?: EngineMetrics;
  /** Per-terminal timeline (issue 9); best effort, never blocks delivery. */
  events?: TerminalEventSink;
  newId?: () => string;
}

export interface SendRequest {
  terminalId: string;
  /** The payload as JSON text. */
  payload: string;
  ttlSeconds: number;
  collapseKey?: string;
  idempotencyKey?: string;
}

/**
 * - `queued`: stored durably; delivered in order while the terminal is (or when it comes) online.
 * - `sent`: `ttlSeconds: 0`, handed to the terminal's live connection (not stored for later).
 * - `dropped`: `ttlSeconds: 0` and the terminal was not connected: never delivered (invariant 2.4).
 */
export type SendStatus = 'queued' | 'sent' | 'dropped';

export interface SendResult {
  terminalId: string;
  seq: number;
  messageId: string;
  status: SendStatus;
}

export interface RequestResult {
  seq: number;
  reply: unknown;
  latencyMs: number;
}

export interface PresenceView {
  terminalId: string;
  online: boolean;
  gatewayId?: string;
  protocol?: Protocol;
  pending: number;
  lastAckedSeq: number;
}

export interface PurgeResult {
  terminalId: string;
  /** Pending (unexpired) messages acked on the terminal's behalf. */
  purged: number;
  /** The ack cursor afterwards. */
  lastAckedSeq: number;
}

/** Messages read per page by purge(). */
const PURGE_PAGE = 1000;

/** How many ttl-0 send statuses are remembered for idempotent replays. */
const TTL0_STATUS_MEMORY = 10_000;

/**
 * The delivery engine (DESIGN.md section 2, issue 2 item 4). Protocol-blind and free of I/O
 * libraries: the store, directory, relay and connections are ports.
 *
 * Ordering: each session has a delivery cursor (highest seq written). Only the pump writes
 * out of the store, in seq order, at most `window` unacked at a time; a live message is
 * written directly only when the session is caught up and it is exactly cursor + 1, so live
 * traffic never overtakes a drain.
 */
export class DeliveryEngine {
  readonly gatewayId: string;
  private readonly store: MessageStore;
  private readonly directory: SessionDirectory;
  private readonly relay: RelayBus;
  private readonly clock: Clock;
  private readonly log: CoreLog;
  private readonly metrics: EngineMetrics;
  private readonly events: TerminalEventSink | undefined;
  private readonly newId: () => string;
  private readonly window: number;
  private readonly maxBufferedBytes: number;
  private readonly presenceTtlMs: number;
  private readonly drainReconnectAfterMs: number;
  private readonly takeovers: TakeoverDamper;
  private readonly flaps: FlapDetector;
  private readonly queueLimit: QueueLimit;
  private readonly resumeIntervalMs: number;
  private readonly sessions: LruRegistry<Session>;
  private readonly byConn = new Map<TerminalConnection, Session>();
  private readonly requests = new PendingRequests();
  /** Sessions whose pump waits for backpressure to clear or for the store to come back. */
  private readonly stalled = new Set<Session>();
  private readonly ttl0Status = new Map<string, SendStatus>();
  private resumeTimer: ReturnType<typeof setInterval> | undefined;
  private presenceTimer: ReturnType<typeof setInterval> | undefined;
  private resyncTimer: ReturnType<typeof setInterval> | undefined;
  /** Sessions still to check in the current resync period (refilled when empty). */
  private resyncQueue: Session[] = [];
  private resyncSliceSize = 0;
  private resyncRunning = false;
  private drain: DrainState | undefined;
  private closing = false;

  constructor(
    private readonly opts: EngineOptions,
    deps: EngineDeps,
  ) {
    this.gatewayId = opts.gatewayId;
    this.store = deps.store;
    this.directory = deps.directory;
    this.relay = deps.relay;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? nullLog;
    this.metrics = deps.metrics ?? noopMetrics;
    this.events = deps.events;
    this.newId = deps.newId ?? randomUUID;
    this.window = opts.window ?? 64;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 1024 * 1024;
    this.presenceTtlMs = opts.presenceTtlMs ?? opts.heartbeatSeconds * 3000;
    this.drainReconnectAfterMs = opts.drainReconnectAfterMs ?? 2000;
    this.takeovers = new TakeoverDamper(opts.takeoverDamping);
    this.flaps = new FlapDetector(opts.flapping);
    this.queueLimit = new QueueLimit(
      {
        maxPending: opts.maxPendingPerTerminal ?? 0,
        onFull: (terminalId, pending, limit) =>
          this.log.warn({ terminalId, pending, limit }, 'queue full: sends to this terminal are refused (PCM_ERR_QUEUE_FULL) until it connects and acks'),
      },
      this.store,
    );
    this.resumeIntervalMs = opts.resumeIntervalMs ?? 100;
    this.sessions = new LruRegistry<Session>(opts.maxSessions);
  }

  /** Joins the relay and starts the presence refresh (one timer for all sessions). */
  async start(): Promise<void> {
    await this.relay.start(this.gatewayId, (ev) => this.onRelayEvent(ev));
    this.presenceTimer = setInterval(() => this.refreshPresence(), this.opts.heartbeatSeconds * 1000);
    this.presenceTimer.unref?.();
    const resyncMs = this.opts.resyncIntervalMs ?? 5000;
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => void this.resyncTick(), Math.max(1, Math.floor(resyncMs / RESYNC_SLICES)));
      this.resyncTimer.unref?.();
    }
  }

  /** Drains every session (`drain` frame, then close) and fails waiting requests. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.drain?.timer) clearInterval(this.drain.timer);
    const releases: Promise<void>[] = [];
    for (const s of [...this.sessions.values()]) {
      releases.push(this.end(s, { type: 'drain', reconnectAfterMs: this.drainReconnectAfterMs, reason: 'shutdown' }, 'gateway shutting down'));
    }
    this.requests.cancelAll(new PcmError('PCM_ERR_NOT_READY', 'the gateway is shutting down'));
    await Promise.all(releases);
  }

  sessionCount(): number {
    return this.sessions.size;
  }

  sessionCounts(): Record<Protocol, number> {
    const out: Record<Protocol, number> = { websocket: 0, mqtt: 0 };
    for (const s of this.sessions.values()) out[s.conn.protocol]++;
    return out;
  }

  // ---------------------------------------------------------------- sender side

  /** Stores, then routes (invariant 2.1: durable before accepted). */
  async submit(req: SendRequest): Promise<SendResult> {
    this.checkOpen();
    const messageId = this.newId();
    const now = this.clock.now();
    let appended;
    try {
      const full = this.queueLimit.check(req.terminalId, now);
      // a retry of a send stored before the queue filled still gets its first result (2.6)
      if (full) appended = await full.then(() => undefined, (err: unknown) => this.replayOrRefuse(err, req, now));
      appended ??= await this.store.append(
        { terminalId: req.terminalId, payload: req.payload, ttlSeconds: req.ttlSeconds, collapseKey: req.collapseKey, idempotencyKey: req.idempotencyKey, messageId },
        now,
      );
    } catch (err) {
      throw storeError(err, 'message not stored');
    }
    const m = appended.message;
    const volatile = req.ttlSeconds === 0;
    if (appended.duplicate) {
      // Invariant 2.6: a retry gets the first result and triggers nothing new.
      const status: SendStatus = m.expiresAt > m.createdAt ? 'queued' : (this.ttl0Status.get(m.messageId) ?? 'dropped');
      return { terminalId: m.terminalId, seq: m.seq, messageId: m.messageId, status };
    }
    this.metrics.accepted();
    this.queueLimit.appended(m.terminalId, m.seq, appended.epoch, appended.collapsedSeq !== undefined);
    this.emit({ type: 'sent', terminalId: m.terminalId, seq: m.seq, messageId: m.messageId });
    if (!volatile) {
      // The relay is an accelerator (invariant 2.7): the sender is not kept waiting for it.
      // A terminal connected here is served synchronously: no promise per message on the hot path.
      let local = true;
      try {
        local = this.routeLocal(m, false);
      } catch (err) {
        this.routingFailed(err, m.terminalId);
      }
      if (!local) void this.routeRemote(m, appended.epoch).catch((err) => this.routingFailed(err, m.terminalId));
      return { terminalId: m.terminalId, seq: m.seq, messageId: m.messageId, status: 'queued' };
    }
    const handed = await this.route(m, appended.epoch, true).catch(() => false);
    const status: SendStatus = handed ? 'sent' : 'dropped';
    if (!handed) this.metrics.expired(1);
    if (!handed) this.emit({ type: 'expired', terminalId: m.terminalId, seq: m.seq, messageId: m.messageId, reason: 'ttl 0: terminal not connected' });
    this.rememberTtl0(m.messageId, status);
    return { terminalId: m.terminalId, seq: m.seq, messageId: m.messageId, status };
  }

  /**
   * Request/reply ("instant response", DESIGN.md section 5): stores a message carrying a
   * correlation id with a TTL no longer than the wait, then waits for the terminal's reply.
   */
  async request(terminalId: string, payload: string, timeoutMs: number): Promise<RequestResult> {
    this.checkOpen();
    const started = this.clock.now();
    const correlationId = newCorrelationId(this.newId(), this.gatewayId);
    const waiting = this.requests.register(correlationId, terminalId, timeoutMs);
    let appended;
    try {
      const full = this.queueLimit.check(terminalId, started);
      if (full) await full.catch((err: unknown) => this.refusedFull(err));
      appended = await this.store.append(
        { terminalId, payload, ttlSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)), correlationId, messageId: this.newId() },
        started,
      );
    } catch (err) {
      const e = storeError(err, 'request not stored');
      this.requests.cancel(correlationId, e);
      await waiting.catch(() => undefined);
      throw e;
    }
    this.metrics.accepted();
    this.queueLimit.appended(terminalId, appended.message.seq, appended.epoch, false);
    this.emit({ type: 'request', terminalId, seq: appended.message.seq, messageId: appended.message.messageId, correlationId });
    void this.route(appended.message, appended.epoch, false).catch((err) => this.log.warn({ err, terminalId }, 'routing a request failed'));
    const reply = await waiting;
    return { seq: appended.message.seq, reply, latencyMs: this.clock.now() - started };
  }

  /**
   * Admin purge (`DELETE /v1/admin/terminals/{id}/messages`): acks, on the terminal's behalf,
   * every message pending for it when the purge starts, so none of them is delivered (any
   * already written to its connection may still be processed). Reads the queue in pages as a
   * drain does and acks each page's last seq: a seq whose write is still in flight (a Couchbase
   * gap within its grace) stops the page, so a message being accepted right now is never
   * skipped. Messages accepted after the purge started are kept.
   */
  async purge(terminalId: string): Promise<PurgeResult> {
    this.checkOpen();
    const now = this.clock.now();
    let purged = 0;
    let lastAckedSeq: number;
    try {
      const start = await this.store.state(terminalId);
      lastAckedSeq = start.lastAckedSeq;
      for (let after = lastAckedSeq; ; ) {
        const page = await this.store.pending(terminalId, { afterSeq: after, limit: PURGE_PAGE, now });
        const mine = page.filter((m) => m.seq <= start.lastSeq);
        if (mine.length === 0) break;
        const last = mine[mine.length - 1]!.seq;
        const r = await this.store.ack(terminalId, last);
        purged += mine.length;
        lastAckedSeq = Math.max(lastAckedSeq, r.lastAckedSeq);
        after = last;
        if (mine.length < page.length || page.length < PURGE_PAGE) break;
      }
    } catch (err) {
      throw storeError(err, 'queue not purged');
    }
    this.queueLimit.acked(terminalId, lastAckedSeq);
    // a session on another gateway learns it from its next resync check (resyncSession)
    const s = this.sessions.get(terminalId);
    if (s) this.ackedElsewhere(s, lastAckedSeq);
    if (purged > 0) this.metrics.purged?.(purged);
    this.emit({ type: 'acked', terminalId, seq: lastAckedSeq, reason: `purged ${purged} pending message(s) (admin)` });
    return { terminalId, purged, lastAckedSeq };
  }

  /** The oldest pending (unacked, unexpired) messages of a terminal, for Mission Control. */
  async peekPending(terminalId: string, limit: number): Promise<StoredMessage[]> {
    try {
      return await this.store.pending(terminalId, { limit, now: this.clock.now() });
    } catch (err) {
      throw storeError(err, 'queue not readable');
    }
  }

  /** Counts a PCM_ERR_QUEUE_FULL refusal and rethrows whatever the queue-limit check threw. */
  private refusedFull(err: unknown): never {
    if (isPcmError(err, 'PCM_ERR_QUEUE_FULL')) this.metrics.queueFull?.();
    throw err;
  }

  /**
   * A send refused by the queue limit that carries an idempotency key may be the retry of one
   * stored before the queue filled: that one gets its first result (invariant 2.6), the rest
   * the refusal.
   */
  private async replayOrRefuse(err: unknown, req: SendRequest, now: number): Promise<AppendResult> {
    if (isPcmError(err, 'PCM_ERR_QUEUE_FULL') && req.idempotencyKey !== undefined) {
      const first = await this.store.findIdempotent(req.terminalId, req.idempotencyKey, now);
      if (first) return first;
    }
    return this.refusedFull(err);
  }

  async presence(terminalId: string): Promise<PresenceView> {
    const now = this.clock.now();
    let state, pending;
    try {
      [state, pending] = await Promise.all([this.store.state(terminalId), this.store.countPending(terminalId, now)]);
    } catch (err) {
      throw storeError(err, 'presence unavailable');
    }
    const view: PresenceView = { terminalId, online: false, pending, lastAckedSeq: state.lastAckedSeq };
    const local = this.sessions.get(terminalId);
    if (local && !local.closed) return { ...view, online: true, gatewayId: this.gatewayId, protocol: local.conn.protocol };
    let p: Presence | undefined;
    try {
      p = await this.directory.lookup(terminalId);
    } catch (err) {
      // Not "offline": the answer is unknown. A sender told offline might wait for a terminal
      // that is connected elsewhere; a 503 says retry.
      throw storeError(err, 'presence unavailable: session directory lookup failed');
    }
    if (p && p.gatewayId !== this.gatewayId) return { ...view, online: true, gatewayId: p.gatewayId, protocol: p.protocol };
    return view;
  }

  // ---------------------------------------------------------------- terminal side

  /**
   * Flapping detection (issue 8), asked by the edges once the token is verified and before the
   * upgrade / CONNACK, so a refusal costs no session, store read or presence claim. A refusal
   * carries the retry hint (WebSocket: 503 + Retry-After; MQTT: CONNACK 3). Connects the server
   * asked for (drain frames, store failures) were excused in end() and pass uncounted.
   */
  admitTerminal(terminalId: string): { ok: true } | { ok: false; retryAfterMs: number } {
    const v = this.flaps.onConnect(terminalId, this.clock.now());
    if (v.ok) return v;
    this.metrics.flapRefused?.(v.flagged);
    if (v.flagged) {
      this.log.warn(
        { terminalId, connects: v.connects, windowMs: this.flaps.windowMs, strikes: v.strikes, retryAfterMs: v.retryAfterMs },
        'flapping: terminal reconnects too often; refusing its connects for a while',
      );
    } else {
      this.log.debug({ terminalId, retryAfterMs: v.retryAfterMs }, 'flapping: connect refused, penalty not over');
    }
    return { ok: false, retryAfterMs: v.retryAfterMs };
  }

  /**
   * A transport authenticated a terminal. Takes over an older local session, evicts the least
   * recently used one at the cap, claims presence, sends `welcome` and starts the drain.
   */
  async connect(conn: TerminalConnection): Promise<void> {
    if (this.closing) {
      conn.send(errorFrame(new PcmError('PCM_ERR_NOT_READY', 'the gateway is shutting down')));
      conn.close('shutting down');
      return;
    }
    const terminalId = conn.terminalId;
    const old = this.sessions.get(terminalId);
    if (old && conn.dialedAt !== undefined && old.conn.dialedAt !== undefined && conn.dialedAt < old.conn.dialedAt) {
      // The latest dial wins, not the connection finished last (issue 8): an overloaded gateway
      // can complete a dial its terminal abandoned (handshake timeout) after the terminal's newer
      // connection. Taking over would close the live session (and send its SDK into the takeover
      // back-off, docs/client.md); the stale dial is the one that goes.
      this.log.info({ terminalId, sessionId: old.sessionId }, 'stale dial: dialed before the session in place; closing it instead of taking over');
      conn.send(errorFrame(new PcmError('PCM_ERR_SESSION_TAKEN_OVER', 'a newer connection of this terminal is already in place')));
      conn.close('stale dial');
      return;
    }
    if (old) {
      const delay = this.takeovers.onTakeover(terminalId, this.clock.now());
      if (delay !== undefined) {
        // A takeover loop: keep the session in place and slow the newcomer down.
        this.log.warn({ terminalId, reconnectAfterMs: delay }, 'takeover loop: refusing the newcomer (two devices with one terminal id?)');
        conn.send({ type: 'drain', reconnectAfterMs: delay, reason: 'takeover-loop' });
        conn.close('takeover loop');
        return;
      }
    }
    const s = new Session(conn, this.newId(), this.clock.now());
    if (old) {
      this.log.info({ terminalId, sessionId: old.sessionId }, 'takeover: closing the older local session');
      void this.end(old, errorFrame(new PcmError('PCM_ERR_SESSION_TAKEN_OVER', 'the terminal connected again; this session is closed')), 'taken over');
    } else {
      const victim = this.sessions.victim();
      if (victim) {
        this.log.warn({ terminalId: victim[0], maxSessions: this.opts.maxSessions }, 'session cap reached: draining the least recently used session');
        void this.end(victim[1], { type: 'drain', reconnectAfterMs: this.drainReconnectAfterMs, reason: 'session-limit' }, 'session limit');
      }
    }
    this.byConn.set(conn, s);
    this.sessions.set(terminalId, s);
    this.metrics.sessionOpened(conn.protocol);

    if (!(await this.claimPresence(s))) return;
    if (s.closed) return;
    let state;
    try {
      state = await this.store.state(terminalId);
    } catch (err) {
      if (!s.closed) void this.end(s, errorFrame(storeError(err, 'cannot read the queue')), 'store unavailable');
      return;
    }
    if (s.closed) return;
    this.queueLimit.observed(terminalId, state, this.clock.now());
    s.epoch = state.epoch;
    s.cursor = s.ackedSeq = state.lastAckedSeq;
    conn.send({ type: 'welcome', terminalId, sessionId: s.sessionId, heartbeatSeconds: this.opts.heartbeatSeconds, epoch: state.epoch, lastAckedSeq: state.lastAckedSeq });
    s.ready = true;
    this.emit({ type: 'connected', terminalId, protocol: conn.protocol });
    if (this.drain) {
      // Draining (issue 6): a terminal that comes anyway (stale discovery answer) is accepted
      // and told at once to go elsewhere, with its own slot in what is left of the window.
      void this.end(s, { type: 'drain', reconnectAfterMs: this.drainDelay(this.drain.planned++), reason: this.drain.reason }, 'gateway draining');
      return;
    }
    this.log.debug({ terminalId, sessionId: s.sessionId, protocol: conn.protocol, lastAckedSeq: state.lastAckedSeq }, 'session ready');
    if (state.lastSeq <= state.lastAckedSeq && !s.offeredBeforeReady) {
      // Nothing stored beyond the ack cursor, and nothing appended since the state read (the
      // session was registered before it: every later append was offered to it and set the
      // flag): caught up without reading the store. Most reconnects have nothing pending; this
      // saves one store read each (a range of gets on Couchbase).
      s.caughtUp = true;
      return;
    }
    void this.pump(s);
  }

  /**
   * Claims the session's presence in the directory and tells the gateway that held it before to
   * close its stale session (DESIGN.md section 3, fenced by epoch). False when the session must
   * not go on (it closed meanwhile, or a newer claim elsewhere superseded it). If the directory
   * is unavailable the session goes on without presence (it only accelerates routing; the store
   * stays the source of truth, invariant 2.7) and the presence refresh claims it later, so a
   * directory blip does not leave a terminal invisible to the fleet for its whole session.
   */
  private async claimPresence(s: Session): Promise<boolean> {
    const terminalId = s.terminalId;
    try {
      const claim = await this.directory.claim(
        { terminalId, gatewayId: this.gatewayId, sessionId: s.sessionId, protocol: s.conn.protocol, connectedAt: s.connectedAt },
        this.presenceTtlMs,
      );
      s.claimPending = false;
      s.connectionEpoch = claim.presence.connectionEpoch;
      if (s.closed) {
        await this.directory.release(terminalId, this.gatewayId, s.connectionEpoch).catch(() => undefined);
        return false;
      }
      if (s.supersededBy !== undefined && s.supersededBy > s.connectionEpoch) {
        void this.end(s, errorFrame(new PcmError('PCM_ERR_SESSION_TAKEN_OVER', 'the terminal connected again elsewhere')), 'taken over');
        return false;
      }
      const prev = claim.previous;
      if (prev && prev.gatewayId !== this.gatewayId) {
        await this.relaySafe(() => this.relay.send(prev.gatewayId, { kind: 'takeover', from: this.gatewayId, terminalId, connectionEpoch: s.connectionEpoch! }));
      }
    } catch (err) {
      this.log.warn({ err, terminalId }, s.claimPending ? 'session directory claim failed again; retrying at the next presence refresh' : 'session directory claim failed; continuing without presence, retrying at the next presence refresh');
      s.claimPending = true;
    }
    return true;
  }

  /** The transport closed (peer, network, heartbeat). */
  disconnected(conn: TerminalConnection): void {
    const s = this.byConn.get(conn);
    if (s) void this.end(s, undefined, undefined);
  }

  /**
   * One decoded terminal frame. Bad input answers with an `error` frame and changes nothing
   * (issue 2, bad-input table); the connection stays open.
   */
  async handleFrame(conn: TerminalConnection, frame: TerminalFrame): Promise<void> {
    const s = this.byConn.get(conn);
    if (!s || s.closed) return;
    try {
      switch (frame.type) {
        case 'ack':
          await this.onAck(s, frame.seq);
          break;
        case 'reply':
          this.onReply(s, frame.correlationId, frame.payload);
          break;
        case 'hello':
          s.profile = frame.profile;
          break;
      }
    } catch (err) {
      this.rejectFrame(conn, toPcmError(err));
    }
  }

  /** A frame the transport could not decode. */
  rejectFrame(conn: TerminalConnection, err: PcmError): void {
    this.metrics.frameRejected(err.code);
    this.log.debug({ terminalId: conn.terminalId, code: err.code }, `frame rejected: ${err.message}`);
    conn.send(errorFrame(err));
  }

  private async onAck(s: Session, seq: number): Promise<void> {
    if (!s.ready || (seq > s.cursor && seq > s.ackedSeq)) {
      throw new PcmError('PCM_ERR_INVALID_ACK', `ack ${seq} names a seq never sent on this session (highest sent: ${s.cursor})`, {
        details: { seq, highestSent: s.cursor },
      });
    }
    if (seq <= s.ackedSeq) return; // stale or repeated ack: harmless, changes nothing
    let r;
    s.acking++;
    try {
      r = await this.store.ack(s.terminalId, seq);
    } catch (err) {
      throw isPcmError(err, 'PCM_ERR_INVALID_ACK') ? err : storeError(err, 'ack not stored');
    } finally {
      s.acking--;
    }
    if (r.lastAckedSeq > s.ackedSeq) s.ackedSeq = r.lastAckedSeq;
    this.queueLimit.acked(s.terminalId, r.lastAckedSeq);
    const n = s.settle(seq);
    if (n > 0) this.metrics.acked(n);
    this.emit({ type: 'acked', terminalId: s.terminalId, seq });
    this.sessions.touch(s.terminalId);
    // Caught up = everything stored was written; new messages arrive through offer(). Skipping
    // the read here saves one store round trip per ack (a batch of gets on Couchbase).
    if (!s.caughtUp || s.volatile.size > 0) void this.pump(s);
  }

  private onReply(s: Session, correlationId: string, payload: unknown): void {
    if (!s.correlations.has(correlationId)) {
      throw new PcmError('PCM_ERR_UNKNOWN_CORRELATION', `no request with correlation id ${JSON.stringify(correlationId)} was sent on this session`);
    }
    this.emit({ type: 'reply', terminalId: s.terminalId, correlationId });
    if (this.requests.resolve(correlationId, s.terminalId, payload)) {
      s.forgetCorrelation(correlationId);
      this.sessions.touch(s.terminalId);
      return;
    }
    const gw = correlationGateway(correlationId);
    if (gw && gw !== this.gatewayId) {
      s.forgetCorrelation(correlationId);
      void this.relaySafe(() => this.relay.send(gw, { kind: 'reply', from: this.gatewayId, correlationId, terminalId: s.terminalId, payload }));
      return;
    }
    throw new PcmError('PCM_ERR_UNKNOWN_CORRELATION', `no request is waiting for correlation id ${JSON.stringify(correlationId)} (it timed out or was answered)`);
  }

  // ---------------------------------------------------------------- routing and delivery

  /** Hands a stored message to the terminal's live connection; true if one was found. */
  private async route(m: StoredMessage, epoch: string, volatile: boolean): Promise<boolean> {
    return this.routeLocal(m, volatile) || this.routeRemote(m, epoch);
  }

  /** Routing is an accelerator (invariant 2.7): a failure is logged and the message waits in the store. */
  private routingFailed(err: unknown, terminalId: string): void {
    this.log.warn({ err, terminalId }, 'routing failed; the message waits in the store');
  }

  /** Offers the message to its session on this gateway; false when the terminal is not connected here. */
  private routeLocal(m: StoredMessage, volatile: boolean): boolean {
    const local = this.sessions.get(m.terminalId);
    if (!local || local.closed) return false;
    this.offer(local, m, volatile);
    return true;
  }

  /** The terminal is not connected here: relay to its owner, if any (false: offline). */
  private async routeRemote(m: StoredMessage, epoch: string): Promise<boolean> {
    // Alone on the relay (pcm dev's single gateway): no other gateway could be reached, so the
    // directory read would change nothing (one read saved per send to an offline terminal).
    if (this.relay.reachablePeers?.() === 0) return false;
    let owner: Presence | undefined;
    try {
      owner = await this.directory.lookup(m.terminalId);
    } catch (err) {
      // DESIGN.md section 3: unknown owner -> broadcast fallback.
      this.log.warn({ err, terminalId: m.terminalId }, 'directory lookup failed; broadcasting');
      await this.relaySafe(() => this.relay.broadcast({ kind: 'deliver', from: this.gatewayId, message: m, epoch }));
      return true;
    }
    // No live record: the terminal is offline. It drains the store when it connects; the claim
    // happens before that drain reads, so no message stored before this lookup is missed.
    if (!owner || owner.gatewayId === this.gatewayId) return false;
    // Addressed to the owner only: O(1) in the number of gateways (DESIGN.md section 3).
    await this.relaySafe(() => this.relay.send(owner.gatewayId, { kind: 'deliver', from: this.gatewayId, message: m, epoch }));
    return true;
  }

  private onRelayEvent(ev: RelayEvent): void {
    if (ev.from === this.gatewayId) return;
    switch (ev.kind) {
      case 'deliver': {
        const s = this.sessions.get(ev.message.terminalId);
        if (s && !s.closed) this.offer(s, ev.message, ev.message.expiresAt <= ev.message.createdAt);
        break;
      }
      case 'reply':
        if (!this.requests.resolve(ev.correlationId, ev.terminalId, ev.payload)) {
          this.log.debug({ terminalId: ev.terminalId, correlationId: ev.correlationId }, 'relayed reply for no waiting request');
        }
        break;
      case 'takeover': {
        const s = this.sessions.get(ev.terminalId);
        if (!s || s.closed) break;
        if (s.connectionEpoch === undefined) s.supersededBy = Math.max(s.supersededBy ?? 0, ev.connectionEpoch);
        else if (s.connectionEpoch < ev.connectionEpoch) {
          this.log.info({ terminalId: ev.terminalId, by: ev.from }, 'takeover from another gateway: closing the local session');
          void this.end(s, errorFrame(new PcmError('PCM_ERR_SESSION_TAKEN_OVER', 'the terminal connected again elsewhere')), 'taken over');
        }
        break;
      }
      case 'resync': {
        const s = this.sessions.get(ev.terminalId);
        if (s && !s.closed) {
          s.caughtUp = false;
          void this.pump(s);
        }
        break;
      }
    }
  }

  /** A new message for a local session: written at once when it is next in line, else via the pump. */
  private offer(s: Session, m: StoredMessage, volatile: boolean): void {
    if (s.closed || (s.ready && m.seq <= s.cursor)) return;
    if (!s.ready) s.offeredBeforeReady = true;
    if (s.ready && !s.pumping && s.caughtUp && !s.paused && m.seq === s.cursor + 1 && s.inflight.length < this.window && this.writable(s)) {
      if (volatile || m.expiresAt > this.clock.now()) this.write(s, m);
      else this.expiredSeen(m, 'ttl passed before delivery');
      return;
    }
    if (volatile) s.addVolatile(m);
    s.caughtUp = false;
    void this.pump(s);
  }

  /**
   * The only reader of the store for a session: pages pending messages after the delivery
   * cursor, merges buffered ttl-0 messages by seq, writes at most `window` unacked.
   */
  private async pump(s: Session): Promise<void> {
    if (!s.ready || s.closed) return;
    if (s.pumping) {
      s.again = true;
      return;
    }
    s.pumping = true;
    try {
      do {
        s.again = false;
        for (;;) {
          if (s.closed) return;
          const room = this.window - s.inflight.length;
          if (room <= 0) break; // the next ack restarts the pump
          if (!this.writable(s)) {
            this.stall(s);
            break;
          }
          const batch = await this.store.pending(s.terminalId, { afterSeq: s.cursor, limit: room, now: this.clock.now() });
          if (s.closed) return;
          const full = batch.length >= room;
          const limitSeq = full ? batch[batch.length - 1]!.seq : Number.POSITIVE_INFINITY;
          const merged = batch.filter((m) => m.seq > s.cursor);
          for (const [seq, v] of s.volatile) {
            if (seq <= s.cursor) s.deleteVolatile(seq);
            else if (seq <= limitSeq) merged.push(v);
          }
          if (merged.length === 0) {
            s.caughtUp = !full;
            break;
          }
          merged.sort((a, b) => a.seq - b.seq);
          const take = merged.slice(0, room);
          for (const m of take) {
            if (s.closed) return;
            if (m.seq <= s.cursor) continue;
            s.deleteVolatile(m.seq);
            // pending() filtered with the time of the read; a slow read can outlive a short TTL.
            if (m.expiresAt > m.createdAt && m.expiresAt <= this.clock.now()) {
              this.expiredSeen(m, 'ttl passed before delivery');
              continue;
            }
            this.write(s, m);
          }
          if (!full && take.length === merged.length) {
            s.caughtUp = true;
            break;
          }
          s.caughtUp = false;
        }
      } while (s.again && !s.closed);
    } catch (err) {
      this.log.warn({ err, terminalId: s.terminalId }, 'drain read failed; retrying');
      s.caughtUp = false;
      this.stall(s);
    } finally {
      s.pumping = false;
    }
  }

  /**
   * The store's ack cursor moved to `lastAckedSeq` without this session's own ack (admin
   * purge): drop what it covers from the window and read on. Never moves anything backwards.
   */
  private ackedElsewhere(s: Session, lastAckedSeq: number): void {
    if (s.closed || !s.ready || lastAckedSeq <= s.ackedSeq) return;
    s.ackedSeq = lastAckedSeq;
    s.settle(lastAckedSeq);
    if (lastAckedSeq > s.cursor) s.cursor = lastAckedSeq;
    this.queueLimit.acked(s.terminalId, lastAckedSeq);
    void this.pump(s);
  }

  private write(s: Session, m: StoredMessage): void {
    const { frame, encoded } = messageFrame(m, s.epoch);
    s.cursor = m.seq;
    s.inflight.push(m.seq);
    if (m.correlationId !== undefined) s.rememberCorrelation(m.correlationId);
    try {
      s.conn.send(frame, encoded);
    } catch (err) {
      this.log.warn({ err, terminalId: s.terminalId }, 'write failed');
    }
    this.metrics.delivered(s.conn.protocol, Math.max(0, this.clock.now() - m.createdAt));
    this.emit({ type: 'delivered', terminalId: s.terminalId, seq: m.seq, messageId: m.messageId, protocol: s.conn.protocol });
  }

  /** Timeline hook (issue 9): stamped here, and a failing sink never reaches the delivery path. */
  private emit(e: Omit<TerminalEvent, 'at' | 'gatewayId'>): void {
    if (!this.events) return;
    try {
      // stamped in place: callers pass a fresh literal, so no second object per event
      const ev = e as TerminalEvent;
      ev.at = this.clock.now();
      ev.gatewayId = this.gatewayId;
      this.events.record(ev);
    } catch (err) {
      this.log.debug({ err, terminalId: e.terminalId }, 'timeline record failed');
    }
  }

  private writable(s: Session): boolean {
    return s.conn.bufferedBytes() <= this.maxBufferedBytes;
  }

  /** One sweep timer for every stalled session (backpressure or store errors), only while any is stalled. */
  private stall(s: Session): void {
    s.paused = true;
    this.stalled.add(s);
    if (this.resumeTimer || this.closing) return;
    this.resumeTimer = setInterval(() => {
      for (const x of [...this.stalled]) {
        if (x.closed) {
          this.stalled.delete(x);
          continue;
        }
        if (!this.writable(x)) continue;
        this.stalled.delete(x);
        x.paused = false;
        void this.pump(x);
      }
      if (this.stalled.size === 0 && this.resumeTimer) {
        clearInterval(this.resumeTimer);
        this.resumeTimer = undefined;
      }
    }, this.resumeIntervalMs);
    this.resumeTimer.unref?.();
  }

  /**
   * Ends a session once: optional last frame (drain/error), close the transport when the
   * engine initiated it, release presence (fenced by epoch).
   */
  private async end(s: Session, last: ServerFrame | undefined, closeReason: string | undefined): Promise<void> {
    if (s.closed) return;
    s.closed = true;
    this.byConn.delete(s.conn);
    this.sessions.deleteIf(s.terminalId, s);
    this.stalled.delete(s);
    this.metrics.sessionClosed(s.conn.protocol);
    this.emit({ type: 'disconnected', terminalId: s.terminalId, protocol: s.conn.protocol, reason: closeReason ?? 'connection closed' });
    if (s.volatile.size > 0) this.metrics.expired(s.volatile.size);
    for (const v of s.volatile.values()) this.emit({ type: 'expired', terminalId: s.terminalId, seq: v.seq, messageId: v.messageId, reason: 'ttl 0: session closed' });
    s.clearVolatile();
    if (last) {
      // The server asked this terminal to come back (drain other than a takeover loop, a
      // transient failure of ours): that reconnect must not count as flapping.
      if (last.type === 'drain' ? last.reason !== 'takeover-loop' : last.type === 'error' && isServerSideFailure(last.code)) {
        this.flaps.excuse(s.terminalId, last.type === 'drain' ? last.reconnectAfterMs : 0, this.clock.now());
      }
      try {
        s.conn.send(last);
      } catch {
        /* the transport is already gone */
      }
    }
    if (closeReason !== undefined) s.conn.close(closeReason);
    if (s.connectionEpoch !== undefined) {
      await this.directory.release(s.terminalId, this.gatewayId, s.connectionEpoch).catch((err: unknown) => this.log.warn({ err, terminalId: s.terminalId }, 'presence release failed'));
    }
  }

  /**
   * One tick of the resync sweep (issue 5, invariant 2.7). A single timer for all sessions: the
   * period is split into RESYNC_SLICES ticks, each checking a slice of the sessions snapshotted
   * at the start of the period, so every session is checked once per period and the store load
   * is spread. The check is one `state()` read (the counter); only a session whose counter is
   * ahead of everything it has seen gets a pump (a `pending()` page). A tick that finds the
   * previous one still running skips (bounded work when the store is slow).
   */
  private async resyncTick(): Promise<void> {
    if (this.closing || this.resyncRunning) return;
    if (this.resyncQueue.length === 0) {
      this.resyncQueue = [...this.sessions.values()];
      this.resyncSliceSize = Math.ceil(this.resyncQueue.length / RESYNC_SLICES);
    }
    const slice = this.resyncQueue.splice(0, this.resyncSliceSize);
    if (slice.length === 0) return;
    this.resyncRunning = true;
    try {
      const limit = Math.max(1, this.opts.resyncConcurrency ?? 32);
      let next = 0;
      const worker = async () => {
        while (next < slice.length && !this.closing) await this.resyncSession(slice[next++]!);
      };
      await Promise.all(Array.from({ length: Math.min(limit, slice.length) }, worker));
    } finally {
      this.resyncRunning = false;
    }
  }

  private async resyncSession(s: Session): Promise<void> {
    // A pumping or stalled session reads the store anyway. One that is not caught up is
    // checked only when its full window has not moved for a whole period: it may be stuck on
    // a message the terminal never acks (below); a draining terminal acks and is left alone.
    if (s.closed || !s.ready || s.pumping || s.paused) return;
    if (!s.caughtUp) {
      const stuck = s.inflight.length >= this.window && s.ackedSeq === s.resyncAckedSeq;
      s.resyncAckedSeq = s.ackedSeq;
      if (!stuck) return;
    }
    let state: QueueState;
    try {
      state = await this.store.state(s.terminalId);
    } catch (err) {
      this.log.debug({ err, terminalId: s.terminalId }, 'resync check failed; next period retries');
      return;
    }
    // The store's ack cursor passed what this session waits for: an admin purge through
    // another gateway (or any ack this session did not see). Without this, a terminal stuck on
    // a message it never acks would keep its full window until it reconnects. An ack of its
    // own still being stored may be what moved the cursor: that one settles (and counts) itself.
    if (state.epoch === s.epoch && state.lastAckedSeq > s.ackedSeq && s.inflight.length > 0 && s.acking === 0) {
      this.ackedElsewhere(s, state.lastAckedSeq);
      return;
    }
    if (!s.caughtUp) return;
    const lastSeq = state.lastSeq;
    // lastSeq also counts ttl-0, expired and collapsed seqs that pending() never returns, so the
    // counter may stay ahead of the cursor for good: `resyncSeen` keeps that from costing a
    // pending() read every period. But a store may also hold back messages above a gap it
    // cannot yet tell apart from an append still in flight (Couchbase: counter incremented,
    // document not yet written; docs/storage.md); once that gap is known to be permanent the
    // counter has not moved, so a counter still ahead is re-read every RESYNC_RECHECK_PERIODS.
    if (s.closed || lastSeq <= s.cursor) return;
    const now = this.clock.now();
    const recheckMs = RESYNC_RECHECK_PERIODS * (this.opts.resyncIntervalMs ?? 5000);
    if (lastSeq <= s.resyncSeen && now - s.resyncSeenAt < recheckMs) return;
    s.resyncSeen = lastSeq;
    s.resyncSeenAt = now;
    this.metrics.resynced?.();
    s.caughtUp = false;
    void this.pump(s);
  }

  // ---------------------------------------------------------------- graceful drain (issue 6)

  /** True once startDrain() ran: the gateway is leaving (scale-down). */
  isDraining(): boolean {
    return this.drain !== undefined;
  }

  /**
   * Evacuates every session at most `ratePerSecond` per second (docs/operator.md, "What a
   * gateway does"). Terminal i of n gets a `drain` frame whose `reconnectAfterMs` aims its
   * reconnect at (i + 0.5) / n of the first 80 % of the window, measured from the drain start,
   * so arrivals at the other gateways are spread evenly instead of all at once. Idempotent.
   */
  startDrain(opts: { ratePerSecond: number; windowMs: number; reason?: string }): void {
    if (this.drain || this.closing) return;
    const queue = [...this.sessions.values()];
    const tickMs = 100;
    const d: DrainState = {
      startedAt: this.clock.now(),
      windowMs: Math.max(0, opts.windowMs),
      total: queue.length,
      planned: 0,
      reason: opts.reason ?? 'scale-down',
      queue,
      timer: undefined,
    };
    this.drain = d;
    this.log.info({ sessions: queue.length, ratePerSecond: opts.ratePerSecond, windowMs: d.windowMs }, 'draining: evacuating terminals');
    // Token bucket refilled per tick: `ratePerSecond` frames per second at most, never a burst.
    const perTick = Math.max(0, opts.ratePerSecond) * (tickMs / 1000);
    let credit = 0;
    const tick = () => {
      credit = Math.min(credit + perTick, Math.max(1, perTick));
      while (credit >= 1 && d.queue.length > 0) {
        const s = d.queue.shift()!;
        if (s.closed) continue;
        credit -= 1;
        void this.end(s, { type: 'drain', reconnectAfterMs: this.drainDelay(d.planned++), reason: d.reason }, 'gateway draining');
      }
      if (d.queue.length === 0 && d.timer) {
        clearInterval(d.timer);
        d.timer = undefined;
      }
    };
    d.timer = setInterval(tick, tickMs);
    d.timer.unref?.();
    tick();
  }

  /**
   * Ends a drain: the operator cancelled the scale-down (a scale-up kept this gateway), so it
   * takes terminals again and reports ready. Terminals already told to leave reconnect
   * wherever discovery sends them; nobody else is evacuated. A shutdown is not cancelled.
   */
  cancelDrain(): void {
    const d = this.drain;
    if (!d || this.closing) return;
    if (d.timer) clearInterval(d.timer);
    this.drain = undefined;
    this.log.info({ evacuated: d.planned, kept: d.queue.filter((s) => !s.closed).length }, 'drain cancelled: taking terminals again');
  }

  /** `reconnectAfterMs` for the i-th terminal drained (see startDrain); late arrivals extend the plan. */
  private drainDelay(i: number): number {
    const d = this.drain!;
    const n = Math.max(d.total, i + 1);
    const target = d.startedAt + ((i + 0.5) / n) * d.windowMs * 0.8;
    // Behind schedule (rate too low for the window): still distinct, 1 ms apart.
    return Math.max(i + 1, Math.round(target - this.clock.now()));
  }

  /**
   * pcm_messages_expired_total for a stored message the engine itself found expired at the
   * moment it would have written it (invariant 2.4: never delivered). Messages that expire
   * unseen inside the store are not counted here (the store drops them without telling).
   */
  private expiredSeen(m: StoredMessage, reason: string): void {
    this.metrics.expired(1);
    this.emit({ type: 'expired', terminalId: m.terminalId, seq: m.seq, messageId: m.messageId, reason });
  }

  private refreshPresence(): void {
    const records = [];
    const unclaimed: Session[] = [];
    for (const s of this.sessions.values()) {
      if (s.closed) continue;
      if (s.connectionEpoch !== undefined) records.push({ terminalId: s.terminalId, gatewayId: this.gatewayId, connectionEpoch: s.connectionEpoch });
      else if (s.claimPending && !s.claiming) unclaimed.push(s);
    }
    if (records.length > 0) this.directory.refresh(records, this.presenceTtlMs).catch((err: unknown) => this.log.warn({ err }, 'presence refresh failed'));
    // Sessions whose claim failed (directory unavailable at connect): claim again, a bounded
    // number per beat so a directory coming back is not hit by every session at once.
    for (const s of unclaimed.slice(0, CLAIM_RETRIES_PER_BEAT)) {
      s.claiming = true;
      void this.claimPresence(s).finally(() => (s.claiming = false));
    }
  }

  private async relaySafe(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      // Losing a relay event delays, never loses, a message (invariant 2.7).
      this.log.warn({ err }, 'relay publish failed');
    }
  }

  private rememberTtl0(messageId: string, status: SendStatus): void {
    if (this.ttl0Status.size >= TTL0_STATUS_MEMORY) {
      const oldest = this.ttl0Status.keys().next().value;
      if (oldest !== undefined) this.ttl0Status.delete(oldest);
    }
    this.ttl0Status.set(messageId, status);
  }

  private checkOpen(): void {
    if (this.closing) throw new PcmError('PCM_ERR_NOT_READY', 'the gateway is shutting down');
  }
}

interface DrainState {
  startedAt: number;
  windowMs: number;
  /** Sessions connected when the drain started. */
  total: number;
  /** Drain frames handed out so far (the slot index of the next one). */
  planned: number;
  reason: string;
  queue: Session[];
  timer: ReturnType<typeof setInterval> | undefined;
}

/** Error frames that end a session because of the gateway's own trouble, not the terminal's. */
function isServerSideFailure(code: string): boolean {
  return code === 'PCM_ERR_STORE_UNAVAILABLE' || code === 'PCM_ERR_NOT_READY' || code === 'PCM_ERR_INTERNAL';
}

export function errorFrame(err: PcmError): ErrorFrame {
  return { type: 'error', code: err.code, message: err.message };
}

/** Store failures are 503 PCM_ERR_STORE_UNAVAILABLE (transient); validation errors keep their code. */
function storeError(err: unknown, what: string): PcmError {
  if (isPcmError(err) && err.code !== 'PCM_ERR_INTERNAL') return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new PcmError('PCM_ERR_STORE_UNAVAILABLE', `${what}: the message store is unavailable (${msg}); retry`, { cause: err });
}
