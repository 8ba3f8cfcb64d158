import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from '../../../common/logger.js';

/**
 * Routes kafkajs logs through the process's pino logger (DESIGN.md section 7) instead of
 * its console logger. kafkajs is chatty at INFO (every join, every commit), so the adapter
 * asks it for WARN and above unless the pino level is debug.
 */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _ts, logger: _l, ...fields } = log as { message: string; timestamp?: string; logger?: string } & Record<string, unknown>;
      const ctx = { kafkajs: namespace, ...fields };
      switch (level) {
        // kafkajs logs every failed connection attempt and retried request at ERROR; the
        // adapter recovers from those and logs its own outcome (publish given up, consumer
        // rebuilt) at warn/error, so the client's own errors are warnings here.
        case logLevel.ERROR:
        case logLevel.WARN:
          logger.warn(ctx, message);
          break;
        case logLevel.INFO:
          logger.info(ctx, message);
          break;
        default:
          logger.debug(ctx, message);
      }
    };
}

export function kafkaLogLevel(logger: Logger): logLevel {
  return logger.isLevelEnabled('debug') ? logLevel.DEBUG : logLevel.WARN;
}
