import type { TerminalEvent, TerminalEventType } from '../../ports/timeline.js';

/**
 * The in-memory timeline's per-terminal storage: a ring of events packed into one growable
 * Float64Array, six numbers per event, instead of one retained object per event.
 *
 * Why: the timeline keeps up to 200 events for every terminal, so nearly every event the engine
 * records (sent, delivered, acked: three per message) outlives the young generation. As objects
 * each was copied by two scavenges, promoted, and later marked and swept: on a busy gateway that
 * was about 15 us of CPU per delivered message (a fifth of the gateway's CPU in the `throughput`
 * fan-out bench) and about 130 bytes per kept event. Packed, recording allocates nothing and a
 * kept event costs 48 bytes.
 *
 * Slot layout: `at`, `seq` (NaN when absent), `meta` (type, flags and three 12-bit string ids:
 * protocol, gateway id, reason), then the message id as a canonical lowercase UUID in three
 * numbers (48 + 48 + 32 bits, exact in a double). Anything that does not fit (a message id that
 * is not such a UUID, a correlation id, a string once the table is full) goes to a sparse side
 * array of small objects, so every event reads back exactly as recorded.
 */

const TYPES: readonly TerminalEventType[] = ['connected', 'disconnected', 'sent', 'delivered', 'acked', 'expired', 'request', 'reply'];
const TYPE_INDEX = new Map<string, number>(TYPES.map((t, i) => [t, i]));
const SLOT = 6;
const HAS_UUID = 8;
const HAS_EXTRA = 16;
const LOW = 32; // type (3 bits) + 2 flags
const STR = 4096; // 12-bit string ids
const INITIAL_SLOTS = 4;

type Extra = Partial<Pick<TerminalEvent, 'type' | 'messageId' | 'correlationId' | 'protocol' | 'gatewayId' | 'reason'>>;

/**
 * Strings that repeat across events (protocols, gateway ids, reasons), stored once and referenced
 * by a 12-bit id. Bounded: once full, further strings are kept in the event's side object.
 */
export class StringTable {
  private readonly ids = new Map<string, number>();
  private readonly values: string[] = [''];

  id(s: string | undefined): number {
    if (s === undefined) return 0;
    let i = this.ids.get(s);
    if (i === undefined) {
      if (this.values.length >= STR) return -1;
      i = this.values.length;
      this.values.push(s);
      this.ids.set(s, i);
    }
    return i;
  }

  value(i: number): string | undefined {
    return i === 0 ? undefined : this.values[i];
  }
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/** Packs a canonical lowercase UUID into out[o], out[o+1], out[o+2]; false (out undefined) otherwise. */
export function packUuid(s: string, out: Float64Array, o: number): boolean {
  if (s.length !== 36 || s.charCodeAt(8) !== 45 || s.charCodeAt(13) !== 45 || s.charCodeAt(18) !== 45 || s.charCodeAt(23) !== 45) return false;
  let chunk = 0;
  let digits = 0;
  let k = o;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue;
    const d = hexDigit(s.charCodeAt(i));
    if (d < 0) return false;
    chunk = chunk * 16 + d;
    if (++digits === 12) {
      out[k++] = chunk;
      chunk = 0;
      digits = 0;
    }
  }
  out[k] = chunk; // the last 8 digits
  return true;
}

export function unpackUuid(a: number, b: number, c: number): string {
  const hex = a.toString(16).padStart(12, '0') + b.toString(16).padStart(12, '0') + c.toString(16).padStart(8, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class EventRing {
  private data = new Float64Array(0);
  private extra: (Extra | undefined)[] | undefined;
  private size = 0;
  /** Slot the next event goes to (== size until the ring is full, then the oldest). */
  private next = 0;

  constructor(private readonly max: number) {}

  push(e: TerminalEvent, strings: StringTable): void {
    if (this.size < this.max && this.size * SLOT === this.data.length) this.grow();
    const slot = this.next;
    const o = slot * SLOT;
    const d = this.data;
    let extra: Extra | undefined;
    let type = TYPE_INDEX.get(e.type);
    if (type === undefined) {
      extra = { type: e.type };
      type = 0;
    }
    let flags = 0;
    if (e.messageId !== undefined) {
      if (packUuid(e.messageId, d, o + 3)) flags |= HAS_UUID;
      else (extra ??= {}).messageId = e.messageId;
    }
    let p = strings.id(e.protocol);
    if (p < 0) {
      (extra ??= {}).protocol = e.protocol;
      p = 0;
    }
    let g = strings.id(e.gatewayId);
    if (g < 0) {
      (extra ??= {}).gatewayId = e.gatewayId;
      g = 0;
    }
    let r = strings.id(e.reason);
    if (r < 0) {
      (extra ??= {}).reason = e.reason;
      r = 0;
    }
    if (e.correlationId !== undefined) (extra ??= {}).correlationId = e.correlationId;
    if (extra) {
      flags |= HAS_EXTRA;
      (this.extra ??= [])[slot] = extra;
    } else if (this.extra) this.extra[slot] = undefined;
    d[o] = e.at;
    d[o + 1] = e.seq ?? NaN;
    d[o + 2] = type + flags + LOW * (p + STR * (g + STR * r));
    if (this.size < this.max) this.size++;
    this.next = this.next + 1 === this.max ? 0 : this.next + 1;
  }

  /** Newest first, at most `limit`, stopping at the first event older than `oldest`. */
  recent(terminalId: string, oldest: number, limit: number, strings: StringTable): TerminalEvent[] {
    const out: TerminalEvent[] = [];
    const n = this.size;
    for (let k = 1; k <= n && out.length < limit; k++) {
      const slot = (this.next - k + n) % n;
      const o = slot * SLOT;
      const at = this.data[o]!;
      if (at < oldest) break;
      out.push(this.read(terminalId, slot, o, at, strings));
    }
    return out;
  }

  private read(terminalId: string, slot: number, o: number, at: number, strings: StringTable): TerminalEvent {
    const d = this.data;
    const meta = d[o + 2]!;
    const low = meta % LOW;
    let ids = Math.floor(meta / LOW);
    const p = ids % STR;
    ids = Math.floor(ids / STR);
    const g = ids % STR;
    const r = Math.floor(ids / STR);
    const x = low & HAS_EXTRA ? this.extra?.[slot] : undefined;
    const e: TerminalEvent = { terminalId, type: x?.type ?? TYPES[low & 7]!, at };
    const seq = d[o + 1]!;
    if (!Number.isNaN(seq)) e.seq = seq;
    const messageId = low & HAS_UUID ? unpackUuid(d[o + 3]!, d[o + 4]!, d[o + 5]!) : x?.messageId;
    if (messageId !== undefined) e.messageId = messageId;
    const protocol = strings.value(p) ?? x?.protocol;
    if (protocol !== undefined) e.protocol = protocol;
    const gatewayId = strings.value(g) ?? x?.gatewayId;
    if (gatewayId !== undefined) e.gatewayId = gatewayId;
    const reason = strings.value(r) ?? x?.reason;
    if (reason !== undefined) e.reason = reason;
    if (x?.correlationId !== undefined) e.correlationId = x.correlationId;
    return e;
  }

  private grow(): void {
    const slots = Math.min(this.max, Math.max(INITIAL_SLOTS, this.size * 2));
    const bigger = new Float64Array(slots * SLOT);
    bigger.set(this.data);
    this.data = bigger;
  }
}
