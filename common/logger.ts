import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { redactionOptions } from '../gateway/security/redaction.js';

export type { Logger };

/**
 * Structured JSON logs (pino). Every line carries `service`; callers add context with
 * child loggers: `{ terminalId }`, `{ reqId }`, `{ cluster, generation }`.
 * Secrets (authorization headers, tokens, passwords, `access_token` in URLs) are redacted
 * in every process (issue 8; paths in gateway/security/redaction.ts, docs/security.md).
 */
export function createLogger(service: string, level: string = 'info', options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const opts: LoggerOptions = { name: 'pcm', level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime, ...redactionOptions, ...options };
  return destination ? pino(opts, destination) : pino(opts);
}

/** A logger that drops everything; for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
