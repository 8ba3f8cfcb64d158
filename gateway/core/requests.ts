import { PcmError } from '../../common/errors.js';

interface Pending {
  terminalId: string;
  resolve: (payload: unknown) => void;
  reject: (err: PcmError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Request/reply correlation (DESIGN.md section 5, POST /v1/terminals/{id}/requests): a
 * sender waits for the terminal's `reply` frame with the same correlation id, or times out.
 *
 * Correlation ids name the gateway the request entered through (`<uuid>@<gatewayId>`), so a
 * gateway that receives the reply from a terminal connected to it can relay it to the
 * waiting gateway without any shared state (DESIGN.md section 3).
 */
export class PendingRequests {
  private readonly pending = new Map<string, Pending>();

  get size(): number {
    return this.pending.size;
  }

  register(correlationId: string, terminalId: string, timeoutMs: number): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new PcmError('PCM_ERR_REQUEST_TIMEOUT', `terminal ${terminalId} did not reply within ${timeoutMs} ms`, { details: { terminalId, timeoutMs } }));
      }, timeoutMs);
      timer.unref?.();
      this.pending.set(correlationId, { terminalId, resolve, reject, timer });
    });
  }

  has(correlationId: string): boolean {
    return this.pending.has(correlationId);
  }

  /** Completes a waiting request; false when none waits (unknown, answered or timed out). */
  resolve(correlationId: string, terminalId: string, payload: unknown): boolean {
    const p = this.pending.get(correlationId);
    // A reply only counts from the terminal the request was addressed to.
    if (!p || p.terminalId !== terminalId) return false;
    clearTimeout(p.timer);
    this.pending.delete(correlationId);
    p.resolve(payload);
    return true;
  }

  cancel(correlationId: string, err: PcmError): void {
    const p = this.pending.get(correlationId);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(correlationId);
    p.reject(err);
  }

  cancelAll(err: PcmError): void {
    for (const id of [...this.pending.keys()]) this.cancel(id, err);
  }
}

export function newCorrelationId(uuid: string, gatewayId: string): string {
  return `${uuid}@${gatewayId}`;
}

/** The gateway a correlation id was issued by, or undefined when it has no such suffix. */
export function correlationGateway(correlationId: string): string | undefined {
  const at = correlationId.indexOf('@');
  return at > 0 && at < correlationId.length - 1 ? correlationId.slice(at + 1) : undefined;
}
