import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino). Every line carries `service`; callers add context with
 * child loggers: `{ terminalId }`, `{ reqId }`, `{ cluster, generation }`.
 */
export function createLogger(service: string, level: string = 'info', options: LoggerOptions = {}): Logger {
  return pino({ name: 'pcm', level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime, ...options });
}

/** A logger that drops everything; for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
