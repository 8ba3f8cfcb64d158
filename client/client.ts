import { EventEmitter } from 'node:events';
import { Backoff, sleep } from '../common/backoff.js';
import { ERROR_CATALOGUE, PcmError, toPcmError, type ErrorCode } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import type { ClientProfile, MessageFrame, Protocol, ServerFrame, WelcomeFrame } from '../protocol/frames.js';
import { assertTerminalId } from '../protocol/terminal-id.js';
import { fetchAssignment, type Assignment } from './discovery-client.js';
import { DuplicateFilter } from './duplicate-filter.js';
import type { DuplicateStore } from './duplicate-store.js';
import { FileDuplicateStore } from './file-duplicate-store.js';
import { resolveProfile, type ProfileSettings } from './profiles.js';
import { connectMqtt } from './transports/mqtt.js';
import type { ClientTransport, TransportFactory } from './transports/transport.js';
import { connectWebSocket } from './transports/websocket.js';

/** A message as the application sees it: the `message` frame without `type`. */
export interface ReceivedMessage {
  seq: number;
  messageId: string;
  payload: unknown;
  createdAt: string;
  expiresAt: string;
  correlationId?: string;
  epoch?: string;
}

/**
 * The application's handler. The message is acked only after it resolves; for a request
 * (a message with correlationId) the resolved value is sent back as the reply payload.
 * A throwing handler leaves the message unacked: the client reconnects (with backoff) and
 * the gateway redelivers it.
 */
export type MessageHandler = (message: ReceivedMessage) => unknown | Promise<unknown>;

export interface ConnectedInfo {
  protocol: Protocol;
  url: string;
  gatewayId?: string;
  sessionId?: string;
  heartbeatSeconds?: number;
  epoch?: string;
}

export interface PcmClientEvents {
  connected: [ConnectedInfo];
  /** A new (non-duplicate) message, emitted just before the handler runs. */
  message: [ReceivedMessage];
  /** A redelivered message the application already handled; it was acked again, not handled. */
  duplicate: [{ seq: number; epoch?: string }];
  disconnected: [{ reason: string; code?: number }];
  drain: [{ reconnectAfterMs: number; reason: string }];
  /** Only emitted when someone listens (an unheard 'error' must not crash a terminal); always logged. */
  error: [PcmError];
  reconnecting: [{ attempt: number; delayMs: number; reason: string }];
  /** Discovery answered (at start, on every poll and before every reconnect). */
  assignment: [Assignment];
  /** The server's counter epoch changed: the duplicate filter was reset (DESIGN.md section 2.3). */
  epochReset: [{ epoch: string }];
  /** Another connection of this terminal id took the session over (see `onTakeover`). */
  takenOver: [{ count: number; retryInMs?: number }];
  /** The assigned gateway could not be reached `failoverAfter` times in a row: discovery is asked for another one. */
  failover: [{ gatewayId: string; failures: number; avoidMs: number }];
}

export interface PcmClientOptions {
  terminalId: string;
  /** The terminal JWT, or a function returning a fresh one (called before every discovery request and connect). */
  token: string | (() => string | Promise<string>);
  protocol?: Protocol;
  /** Discovery base URL, e.g. http://127.0.0.1:8081. Either this or `url`. */
  discoveryUrl?: string;
  /** Direct gateway URL (ws://host:8080/v1/connect or mqtt://host:1883), skipping discovery. */
  url?: string;
  profile?: ClientProfile;
  /** Fine-tune the profile (tests use short heartbeats and backoff). */
  overrides?: Partial<ProfileSettings>;
  handler?: MessageHandler;
  /** Default: FileDuplicateStore in `dataDir`. */
  duplicateStore?: DuplicateStore;
  /** Directory for the default file duplicate store; default `./pcm-client-state`. */
  dataDir?: string;
  logger?: Logger;
  /** Random source for the backoff jitter (tests). */
  random?: () => number;
  /** Replace the transport (custom sockets, tests). Default by `protocol`. */
  transportFactory?: TransportFactory;
  /**
   * When the gateway says PCM_ERR_SESSION_TAKEN_OVER (another connection with this terminal
   * id won): 'retry' (default) comes back after `takeoverRetryMs`, doubled for each takeover in
   * a row (at most 16x), plus the usual jitter, so a terminal that lost a race against its own
   * stale dial is back within a minute while two devices sharing an id take turns slowly
   * (the gateway's takeover damping and flapping detection pace them too); 'stop' stops the
   * client for good (the application decides).
   */
  onTakeover?: 'retry' | 'stop';
  /** First wait after a takeover, ms; default 60,000. */
  takeoverRetryMs?: number;
  /**
   * Failover (docs/client.md): after this many connection attempts in a row that could not
   * reach the assigned gateway (PCM_ERR_UNREACHABLE: refused, reset, timed out, or a proxy's
   * 502/503/504 in front of it), the client asks discovery for another gateway, naming this one
   * (`?unreachable=<gateway id>`), and stays away from it for `failoverAvoidMs`. 0 = never.
   * Default 2. Only with `discoveryUrl`.
   */
  failoverAfter?: number;
  /**
   * How long a gateway that failed over is avoided before the client follows its assignment
   * back, ms; doubled each time the same gateway fails over again before a connection to it
   * succeeds (at most 16x). Default 60,000.
   */
  failoverAvoidMs?: number;
}

type SessionEnd =
  | { kind: 'closed'; reason: string; retryAfterMs?: number }
  | { kind: 'drain'; delayMs: number; reason: string }
  | { kind: 'moved'; reason: string }
  | { kind: 'stop'; reason: string };

interface Session {
  transport?: ClientTransport;
  url: string;
  gatewayId?: string;
  /** False once the session is ending: new message frames are left unacked for redelivery. */
  accepting: boolean;
  closed: boolean;
  /** 'connected' was emitted (WebSocket: at welcome; MQTT: once subscribed). */
  connected: boolean;
  welcomeEpoch?: string;
  end?: SessionEnd;
  pollTimer?: NodeJS.Timeout;
  welcomeFallback?: NodeJS.Timeout;
}

/** A session that lasted this long ends a run of takeovers (the next one waits the base delay). */
const TAKEOVER_RESET_MS = 10 * 60_000;

/** How long an MQTT session waits for `welcome` before it counts as connected without one. */
const MQTT_WELCOME_WAIT_MS = 1000;

export type ClientState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

/**
 * The terminal SDK (DESIGN.md section 5, client; section 2.3, cumulative application-level
 * ack and duplicate suppression). One PcmClient is one terminal: it discovers its gateway,
 * holds one connection over WebSocket or MQTT, hands messages to the handler strictly one
 * at a time in seq order, acks each after its handler resolved and the duplicate state was
 * saved, and reconnects with capped full-jitter backoff, obeying `drain` frames and
 * discovery's reassignments.
 */
export class PcmClient extends EventEmitter<PcmClientEvents> {
  readonly terminalId: string;
  readonly protocol: Protocol;
  readonly profile: ClientProfile;
  private readonly settings: ProfileSettings;
  private readonly backoff: Backoff;
  private readonly store: DuplicateStore;
  private readonly log: Logger;
  private readonly transportFactory: TransportFactory;
  private filter: DuplicateFilter | undefined;
  private handler: MessageHandler | undefined;
  /** One chain for the client's lifetime: seq n's handler starts only after n-1's finished, across reconnects too. */
  private chain: Promise<void> = Promise.resolve();
  private session: Session | undefined;
  private assignment: Assignment | undefined;
  private nextAssignment: Assignment | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  /** Takeovers in a row; reset by a session that lasted TAKEOVER_RESET_MS. */
  private takeovers = 0;
  private lastWelcomeAt = 0;
  private _state: ClientState = 'idle';
  /**
   * Gateways that could not be reached since the last connection to them: attempts that
   * failed in a row, how often they failed over, and until when they are avoided.
   */
  private readonly unreachable = new Map<string, { failures: number; failovers: number; avoidUntil: number }>();

  constructor(private readonly opts: PcmClientOptions) {
    super();
    this.terminalId = assertTerminalId(opts.terminalId);
    if (!opts.url === !opts.discoveryUrl) throw new PcmError('PCM_ERR_CONFIG', 'PcmClient needs exactly one of `discoveryUrl` and `url`');
    this.protocol = opts.protocol ?? 'websocket';
    this.profile = opts.profile ?? 'normal';
    this.settings = resolveProfile(this.profile, opts.overrides);
    this.backoff = new Backoff({ ...this.settings.backoff, random: opts.random });
    this.store = opts.duplicateStore ?? new FileDuplicateStore(opts.dataDir ?? './pcm-client-state');
    this.log = (opts.logger ?? silentLogger).child({ terminalId: this.terminalId, protocol: this.protocol });
    this.transportFactory = opts.transportFactory ?? (this.protocol === 'mqtt' ? connectMqtt : connectWebSocket);
    this.handler = opts.handler;
  }

  get state(): ClientState {
    return this._state;
  }

  /** The highest seq handled and its epoch (as persisted). */
  get duplicateState() {
    return this.filter?.snapshot;
  }

  /** Sets or replaces the handler (before start, or between messages). */
  onMessage(handler: MessageHandler): this {
    this.handler = handler;
    return this;
  }

  /** Loads the duplicate state and starts connecting; resolves at once (listen for 'connected'). */
  async start(): Promise<void> {
    if (this.loop) throw new PcmError('PCM_ERR_BAD_REQUEST', 'PcmClient already started');
    this.filter = new DuplicateFilter(await this.store.load(this.terminalId));
    this.loop = this.run();
  }

  /** Stops: lets the running handler finish (its ack is sent), closes the connection, stops reconnecting. */
  async stop(): Promise<void> {
    if (this.stopped) return this.loop;
    this.stopped = true;
    this.abort.abort(new PcmError('PCM_ERR_NOT_READY', 'client stopped'));
    const s = this.session;
    if (s) {
      s.accepting = false;
      s.end ??= { kind: 'stop', reason: 'client stopped' };
      await this.chain;
      await s.transport?.close('client stopped');
    }
    await this.loop;
    this._state = 'stopped';
  }

  // ---- connection loop ------------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.stopped) {
      let end: SessionEnd;
      let target: { url: string; gatewayId?: string } | undefined;
      try {
        this._state = 'connecting';
        target = await this.resolveTarget();
        end = await this.runSession(target);
      } catch (err) {
        this.reportError(err);
        const e = toPcmError(err);
        // The gateway itself could not be reached (not: it refused us, or discovery failed).
        if (e.code === 'PCM_ERR_UNREACHABLE' && target?.gatewayId !== undefined) this.noteUnreachable(target.gatewayId);
        // A refusal with a retry hint (admission control, flapping detection: docs/protocol.md,
        // "Reconnect pacing"): stay away that long, plus the jitter that keeps a fleet apart.
        const hint = (e.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
        end = { kind: 'closed', reason: e.message, retryAfterMs: typeof hint === 'number' && hint > 0 ? hint : undefined };
      }
      if (this.stopped || end.kind === 'stop') break;
      let delayMs: number;
      if (end.kind === 'drain') delayMs = end.delayMs;
      else if (end.kind === 'moved') delayMs = 0;
      else delayMs = this.backoff.next() + (end.retryAfterMs ?? 0);
      this._state = 'waiting';
      this.emit('reconnecting', { attempt: this.backoff.attempts, delayMs, reason: end.reason });
      this.log.info({ delayMs, reason: end.reason }, 'reconnecting');
      try {
        await sleep(delayMs, this.abort.signal);
      } catch {
        break;
      }
    }
    this.stopped = true;
    this._state = 'stopped';
  }

  private async token(): Promise<string> {
    return typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
  }

  /** Direct URL, a reassignment found by the poll, or a fresh discovery answer (falling back to the last one). */
  private async resolveTarget(): Promise<{ url: string; gatewayId?: string }> {
    if (this.opts.url) return { url: this.opts.url };
    let a = this.nextAssignment;
    this.nextAssignment = undefined;
    if (!a) {
      try {
        a = await this.discover();
      } catch (err) {
        // Discovery down must not keep a terminal off its gateway: reuse the last answer,
        // unless that gateway failed over (it could not be reached `failoverAfter` times: after
        // a gateway's death, when discovery is swamped by the fleet's reconnects, more dials to
        // it would only be wasted): then retry discovery with backoff until the avoidance ends.
        if (!this.assignment || this.isAvoided(this.assignment.gatewayId)) throw err;
        this.reportError(err);
        this.log.warn({ gatewayId: this.assignment.gatewayId }, 'discovery failed; reconnecting to the last assigned gateway');
        a = this.assignment;
      }
    }
    return { url: this.protocol === 'mqtt' ? a.mqttUrl : a.websocketUrl, gatewayId: a.gatewayId };
  }

  private async discover(): Promise<Assignment> {
    const a = await fetchAssignment(this.opts.discoveryUrl!, this.terminalId, await this.token(), this.settings.connectTimeoutMs, this.avoided());
    this.assignment = a;
    this.emit('assignment', a);
    return a;
  }

  private async runSession(target: { url: string; gatewayId?: string }): Promise<SessionEnd> {
    const session: Session = { url: target.url, gatewayId: target.gatewayId, accepting: true, closed: false, connected: false };
    let resolveEnd!: (e: SessionEnd) => void;
    const ended = new Promise<SessionEnd>((r) => (resolveEnd = r));
    // Frames may arrive before the factory's promise settles; they wait on this gate.
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    this.session = session;
    const transport = await this.transportFactory(
      {
        url: target.url,
        terminalId: this.terminalId,
        token: await this.token(),
        profile: this.profile,
        heartbeatMs: this.settings.heartbeatMs,
        connectTimeoutMs: this.settings.connectTimeoutMs,
        logger: this.log,
        hello: { type: 'hello', profile: this.profile },
      },
      {
        onFrame: (frame) => this.onFrame(session, frame, gate),
        onBadFrame: (err) => this.reportError(err),
        onClose: (info) => {
          session.closed = true;
          session.accepting = false;
          clearTimeout(session.pollTimer);
          clearTimeout(session.welcomeFallback);
          if (this._state === 'connected') this._state = 'connecting';
          this.emit('disconnected', { reason: session.end?.reason ?? info.reason, code: info.code });
          this.log.info({ reason: info.reason, code: info.code }, 'disconnected');
          resolveEnd(session.end ?? { kind: 'closed', reason: info.reason });
        },
      },
    );
    session.transport = transport;
    openGate();
    if (this.stopped) {
      session.end = { kind: 'stop', reason: 'client stopped' };
      await transport.close('client stopped');
    } else if (transport.protocol === 'mqtt') {
      // The gateway publishes `welcome` on the control topic right after the subscription;
      // a broker that sends none still gives a usable session once subscribed.
      session.welcomeFallback = setTimeout(() => this.markConnected(session), MQTT_WELCOME_WAIT_MS);
      session.welcomeFallback.unref();
    }
    return ended;
  }

  private markConnected(session: Session, welcome?: WelcomeFrame): void {
    clearTimeout(session.welcomeFallback);
    if (session.closed || session.connected) return;
    session.connected = true;
    if (session.gatewayId !== undefined) this.unreachable.delete(session.gatewayId);
    this._state = 'connected';
    this.backoff.reset();
    this.lastWelcomeAt = Date.now();
    this.emit('connected', {
      protocol: this.protocol,
      url: session.url,
      gatewayId: session.gatewayId,
      sessionId: welcome?.sessionId,
      heartbeatSeconds: welcome?.heartbeatSeconds,
      epoch: welcome?.epoch,
    });
    this.log.info({ url: session.url, gatewayId: session.gatewayId, sessionId: welcome?.sessionId }, 'connected');
    this.schedulePoll(session, this.assignment?.pollAfterSeconds);
  }

  // ---- frames ---------------------------------------------------------------------------

  private onFrame(session: Session, frame: ServerFrame, gate: Promise<void>): void {
    switch (frame.type) {
      case 'welcome':
        this.enqueue(gate, async () => {
          session.welcomeEpoch = frame.epoch;
          await this.applyEpoch(frame.epoch);
          this.markConnected(session, frame);
        });
        return;
      case 'message':
        if (!session.accepting) return;
        this.enqueue(gate, () => this.handleMessage(session, frame));
        return;
      case 'drain': {
        this.emit('drain', { reconnectAfterMs: frame.reconnectAfterMs, reason: frame.reason });
        this.log.info({ reconnectAfterMs: frame.reconnectAfterMs, reason: frame.reason }, 'drain requested');
        // Finish the running handler (its ack goes out), take nothing new, then leave.
        session.end ??= { kind: 'drain', delayMs: frame.reconnectAfterMs, reason: `drain: ${frame.reason}` };
        void this.endSession(session, gate, 'drain');
        return;
      }
      case 'error': {
        const code: ErrorCode = frame.code in ERROR_CATALOGUE ? (frame.code as ErrorCode) : 'PCM_ERR_INTERNAL';
        this.reportError(new PcmError(code, `gateway error ${frame.code}: ${frame.message}`, { details: { serverCode: frame.code } }));
        // Another connection of this terminal took over. Fighting it at once would only make a
        // loop; giving up for good would leave a terminal dark after losing a race against its
        // own stale dial (a lagging gateway). Come back later, later each time in a row.
        if (frame.code === 'PCM_ERR_SESSION_TAKEN_OVER') {
          if (this.lastWelcomeAt > 0 && Date.now() - this.lastWelcomeAt > TAKEOVER_RESET_MS) this.takeovers = 0;
          this.takeovers++;
          if ((this.opts.onTakeover ?? 'retry') === 'stop') {
            this.emit('takenOver', { count: this.takeovers });
            session.end ??= { kind: 'stop', reason: 'session taken over by another connection' };
            this.stopped = true;
            this.abort.abort();
          } else {
            const retryInMs = (this.opts.takeoverRetryMs ?? 60_000) * 2 ** Math.min(this.takeovers - 1, 4);
            this.emit('takenOver', { count: this.takeovers, retryInMs });
            session.end ??= { kind: 'closed', reason: 'session taken over by another connection', retryAfterMs: retryInMs };
          }
        }
        return;
      }
    }
  }

  private enqueue(gate: Promise<void>, task: () => Promise<void>): void {
    this.chain = this.chain
      .then(() => gate)
      .then(task)
      .catch((err: unknown) => this.reportError(err));
  }

  private async endSession(session: Session, gate: Promise<void>, reason: string): Promise<void> {
    session.accepting = false;
    await gate;
    await this.chain;
    await session.transport?.close(reason);
  }

  private async applyEpoch(epoch: string | undefined): Promise<void> {
    const r = this.filter!.observeEpoch(epoch);
    if (r.reset) {
      this.log.warn({ epoch }, 'server counter epoch changed; duplicate filter reset');
      this.emit('epochReset', { epoch: epoch! });
    }
    if (r.changed) await this.persist();
  }

  private async handleMessage(session: Session, frame: MessageFrame): Promise<void> {
    if (!session.accepting) return; // left unacked; the next gateway redelivers it
    await this.applyEpoch(frame.epoch ?? session.welcomeEpoch);
    const transport = session.transport!;
    if (this.filter!.isDuplicate(frame.seq)) {
      this.emit('duplicate', { seq: frame.seq, epoch: this.filter!.snapshot.epoch });
      // Already handled (an earlier ack was lost): ack again so the gateway moves on.
      transport.send({ type: 'ack', seq: frame.seq });
      return;
    }
    const { type: _type, ...rest } = frame;
    const message = rest as ReceivedMessage;
    this.emit('message', message);
    let result: unknown;
    try {
      result = await this.handler?.(message);
    } catch (err) {
      this.reportError(new PcmError('PCM_ERR_INTERNAL', `message handler failed for seq ${frame.seq}: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
      // Unacked; stop taking messages on this connection and reconnect with backoff, so the
      // gateway redelivers seq n before anything after it (in order, DESIGN.md section 2.2).
      session.accepting = false;
      session.end ??= { kind: 'closed', reason: `handler failed for seq ${frame.seq}` };
      void transport.close('handler failed');
      return;
    }
    this.filter!.markHandled(frame.seq);
    await this.persist();
    if (frame.correlationId !== undefined) transport.send({ type: 'reply', correlationId: frame.correlationId, payload: result === undefined ? null : result });
    transport.send({ type: 'ack', seq: frame.seq });
  }

  private async persist(): Promise<void> {
    try {
      await this.store.save(this.terminalId, this.filter!.snapshot);
    } catch (err) {
      // Still ack: an unpersisted state risks a duplicate only after a restart; not acking
      // would make the gateway redeliver it now.
      this.reportError(new PcmError('PCM_ERR_INTERNAL', `duplicate store save failed: ${(err as Error).message}`, { cause: err }));
    }
  }

  // ---- failover -------------------------------------------------------------------------

  /**
   * One more attempt that could not reach `gatewayId`. At `failoverAfter` in a row (one while
   * another gateway is already avoided) the gateway is avoided: discovery requests name it (`?unreachable=`) until the avoidance ends, so the
   * terminal gets its next rendezvous choice, and the poll brings it back afterwards.
   */
  private noteUnreachable(gatewayId: string): void {
    const after = this.opts.failoverAfter ?? 2;
    if (after <= 0 || !this.opts.discoveryUrl) return;
    const e = this.unreachable.get(gatewayId) ?? { failures: 0, failovers: 0, avoidUntil: 0 };
    this.unreachable.set(gatewayId, e);
    e.failures++;
    // Already failing over (another gateway is avoided): this one was the next choice, and a
    // next choice that cannot be reached either is likely part of the same outage (a zone, a
    // load balancer): move on after one attempt instead of `after`.
    const needed = this.avoided().some((id) => id !== gatewayId) ? 1 : after;
    if (e.failures < needed || e.avoidUntil > Date.now()) return;
    const avoidMs = (this.opts.failoverAvoidMs ?? 60_000) * 2 ** Math.min(e.failovers, 4);
    e.failovers++;
    e.failures = 0;
    e.avoidUntil = Date.now() + avoidMs;
    // The next dial goes to another gateway, one that has not seen this terminal fail: start
    // its backoff afresh (full jitter still spreads the fleet; admission control paces it).
    // Once every gateway is avoided no failover happens and the backoff grows as usual.
    this.backoff.reset();
    this.log.warn({ gatewayId, avoidMs }, 'gateway unreachable: asking discovery for another one');
    this.emit('failover', { gatewayId, failures: needed, avoidMs });
  }

  private isAvoided(gatewayId: string): boolean {
    return (this.unreachable.get(gatewayId)?.avoidUntil ?? 0) > Date.now();
  }

  /** Gateways avoided now, most recently failed over first (at most MAX_UNREACHABLE_GATEWAYS are sent). */
  private avoided(): string[] {
    const now = Date.now();
    return [...this.unreachable]
      .filter(([, e]) => e.avoidUntil > now)
      .sort((a, b) => b[1].avoidUntil - a[1].avoidUntil)
      .map(([id]) => id);
  }

  // ---- discovery polling ----------------------------------------------------------------

  private schedulePoll(session: Session, seconds: number | undefined): void {
    if (this.opts.url || seconds === undefined || session.closed) return;
    clearTimeout(session.pollTimer);
    // ±10 % jitter: a fleet that reconnected together (after a gateway restart) must not
    // poll discovery in lockstep forever after.
    const jitter = 0.9 + 0.2 * (this.opts.random ?? Math.random)();
    session.pollTimer = setTimeout(() => void this.poll(session), Math.round(seconds * 1000 * jitter));
    session.pollTimer.unref();
  }

  /** Every pollAfterSeconds: if discovery now assigns another gateway, move there gracefully. */
  private async poll(session: Session): Promise<void> {
    if (session.closed || this.stopped) return;
    let a: Assignment;
    try {
      a = await this.discover();
    } catch (err) {
      this.reportError(err);
      this.schedulePoll(session, this.assignment?.pollAfterSeconds);
      return;
    }
    const url = this.protocol === 'mqtt' ? a.mqttUrl : a.websocketUrl;
    if (a.gatewayId === session.gatewayId && url === session.url) {
      this.schedulePoll(session, a.pollAfterSeconds);
      return;
    }
    if (session.closed || session.end) return;
    this.log.info({ from: session.gatewayId, to: a.gatewayId, generation: a.generation }, 'assignment moved; reconnecting to the new gateway');
    this.nextAssignment = a;
    session.end = { kind: 'moved', reason: `assignment moved from ${session.gatewayId} to ${a.gatewayId}` };
    await this.endSession(session, Promise.resolve(), 'assignment moved');
  }

  private reportError(err: unknown): void {
    const e = toPcmError(err);
    this.log.warn({ err: e, code: e.code }, e.message);
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }
}
