/**
 * The one backoff utility (DESIGN.md section 7): capped exponential backoff with full
 * jitter (AWS architecture blog, "Exponential Backoff And Jitter"): delay is uniform in
 * [0, min(cap, base * 2^attempt)]. The random source is injectable for tests.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

export function fullJitterDelay(attempt: number, opts: BackoffOptions): number {
  const random = opts.random ?? Math.random;
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * exp);
}

/** Stateful helper for reconnect loops: next() grows the delay, reset() after success. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions) {}
  next(): number {
    return fullJitterDelay(this.attempt++, this.opts);
  }
  reset(): void {
    this.attempt = 0;
  }
  get attempts(): number {
    return this.attempt;
  }
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Retries `fn` on transient errors with full-jitter backoff, at most `attempts` times.
 * `isTransient` decides; non-transient errors are rethrown at once.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: BackoffOptions & { attempts: number; isTransient: (err: unknown) => boolean; signal?: AbortSignal },
): Promise<T> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < opts.attempts; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      lastErr = err;
      if (!opts.isTransient(err) || attempt === opts.attempts - 1) throw err;
      await sleep(fullJitterDelay(attempt, opts), opts.signal);
    }
  }
  throw lastErr;
}
