/**
 * Duplicate suppression state (DESIGN.md section 2.3): the highest seq the application has
 * handled, per terminal, and the counter epoch it belongs to. Persisted so a restarted
 * terminal does not handle a redelivered message twice.
 */
export interface DuplicateState {
  /** Store counter generation the seqs belong to (welcome/message `epoch`); undefined if the server sends none. */
  epoch?: string;
  /** Highest seq handled by the application in this epoch; 0 = none. */
  lastSeq: number;
}

/**
 * Pluggable persistence for DuplicateState, keyed by terminal id. `save` must be durable
 * and atomic when it resolves: the client acks a message only after `save` resolved.
 */
export interface DuplicateStore {
  load(terminalId: string): Promise<DuplicateState>;
  save(terminalId: string, state: DuplicateState): Promise<void>;
}

/** In-memory store, for tests and for terminals that accept duplicates after a restart. */
export class MemoryDuplicateStore implements DuplicateStore {
  private readonly states = new Map<string, DuplicateState>();
  async load(terminalId: string): Promise<DuplicateState> {
    const s = this.states.get(terminalId);
    return s ? { ...s } : { lastSeq: 0 };
  }
  async save(terminalId: string, state: DuplicateState): Promise<void> {
    this.states.set(terminalId, { ...state });
  }
}
