import type { DuplicateState } from './duplicate-store.js';

/**
 * Epoch-aware duplicate filter, pure (DESIGN.md section 2.3). A seq at or below the last
 * handled one is a duplicate, unless the server's counter epoch changed: then the
 * counter restarted and low seqs are new, so the filter resets instead of dropping them.
 */
export class DuplicateFilter {
  private state: DuplicateState;
  constructor(initial: DuplicateState) {
    this.state = { ...initial };
  }

  get snapshot(): DuplicateState {
    return { ...this.state };
  }

  /**
   * Applies the epoch a frame carries. Returns true when the state changed (and must be
   * persisted). A first epoch is adopted without a reset: the seqs handled so far were
   * counted before the server started sending epochs, by the same counter.
   */
  observeEpoch(epoch: string | undefined): { changed: boolean; reset: boolean } {
    if (epoch === undefined || epoch === this.state.epoch) return { changed: false, reset: false };
    if (this.state.epoch === undefined) {
      this.state = { epoch, lastSeq: this.state.lastSeq };
      return { changed: true, reset: false };
    }
    this.state = { epoch, lastSeq: 0 };
    return { changed: true, reset: true };
  }

  isDuplicate(seq: number): boolean {
    return seq <= this.state.lastSeq;
  }

  markHandled(seq: number): void {
    if (seq > this.state.lastSeq) this.state = { ...this.state, lastSeq: seq };
  }
}
