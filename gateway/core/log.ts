/**
 * The logging surface the pure core needs (DESIGN.md section 7: core imports no I/O library).
 * A pino Logger satisfies it; tests pass `silentLogger`.
 */
export interface CoreLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const nullLog: CoreLog = { debug() {}, info() {}, warn() {}, error() {} };
