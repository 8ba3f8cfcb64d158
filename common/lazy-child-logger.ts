import type { FastifyBaseLogger } from 'fastify';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * fastify `childLoggerFactory` that defers the per-request child logger until something logs.
 * fastify makes a child (bound to the request id) for every request; with pino's redaction
 * configured (common/logger.ts) that child costs a redaction pass over its bindings, on
 * every send, although with access logs off (the default) almost no request ever logs.
 * The lazy child is created on the first call and is the same logger from then on.
 */
export function lazyChildLoggerFactory(logger: FastifyBaseLogger, bindings: Record<string, unknown>, opts: Record<string, unknown>): FastifyBaseLogger {
  return new LazyChild(logger, bindings, opts) as unknown as FastifyBaseLogger;
}

class LazyChild {
  private real?: FastifyBaseLogger;
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindingsIn: Record<string, unknown>,
    private readonly opts: Record<string, unknown>,
  ) {}

  private get logger(): FastifyBaseLogger {
    return (this.real ??= this.parent.child(this.bindingsIn, this.opts));
  }

  get level(): string {
    return this.real?.level ?? this.parent.level;
  }
  set level(l: string) {
    this.logger.level = l;
  }

  isLevelEnabled(level: string): boolean {
    const p = (this.real ?? this.parent) as unknown as { isLevelEnabled?(l: string): boolean };
    return p.isLevelEnabled ? p.isLevelEnabled(level) : true;
  }

  private log(level: Level, args: unknown[]): void {
    // level check on the parent first: a disabled level never creates the child
    if (!this.isLevelEnabled(level)) return;
    (this.logger[level] as (...a: unknown[]) => void)(...args);
  }

  fatal(...a: unknown[]): void {
    this.log('fatal', a);
  }
  error(...a: unknown[]): void {
    this.log('error', a);
  }
  warn(...a: unknown[]): void {
    this.log('warn', a);
  }
  info(...a: unknown[]): void {
    this.log('info', a);
  }
  debug(...a: unknown[]): void {
    this.log('debug', a);
  }
  trace(...a: unknown[]): void {
    this.log('trace', a);
  }
  silent(): void {
    /* pino's silent level logs nothing */
  }
  child(bindings: Record<string, unknown>, opts?: Record<string, unknown>): FastifyBaseLogger {
    return this.logger.child(bindings, opts);
  }
  bindings(): Record<string, unknown> {
    return (this.logger as unknown as { bindings(): Record<string, unknown> }).bindings();
  }
}
