// anvil's memory: per "service:address" the connections open now, and the
// connection, message and recipient rates in the current time unit, with
// the maxima it reports in its statistics lines. Used by anvil_server.ts.
// Limits: fixed windows of anvil_rate_time_unit (as Postfix), no
// newtls/auth counters, and entries are dropped only when idle.

export interface RateCounter {
  start: number; // ms at which the current window began
  count: number;
}

interface Entry {
  count: number; // connections open now
  connect: RateCounter;
  message: RateCounter;
  recipient: RateCounter;
}

export const EVENT = {
  CONNECT: 'connect',
  MESSAGE: 'message',
  RECIPIENT: 'recipient',
} as const;

export type AnvilEvent = (typeof EVENT)[keyof typeof EVENT];

// The largest value seen for one kind of counter, and when and for whom.
export interface Maximum {
  value: number;
  ident: string;
  when: number;
}

export type MaximumName = 'rate' | 'count' | 'message' | 'recipient';

export class AnvilTable {
  readonly #entries = new Map<string, Entry>();
  readonly #unitMs: number;
  readonly #now: () => number;
  #maxima = new Map<MaximumName, Maximum>();
  #maxCache = { value: 0, when: 0 };

  constructor(unitSeconds: number, now: () => number = Date.now) {
    this.#unitMs = unitSeconds * 1000;
    this.#now = now;
  }

  get unitSeconds(): number {
    return this.#unitMs / 1000;
  }

  // A new connection: its count and rate, this one included.
  connect(ident: string): { count: number; rate: number } {
    const entry = this.#entry(ident);
    entry.count += 1;
    const rate = this.#bump(entry.connect);
    this.#noteMax('count', ident, entry.count);
    this.#noteMax('rate', ident, rate);
    return { count: entry.count, rate };
  }

  disconnect(ident: string): void {
    const entry = this.#entries.get(ident);
    if (!entry || entry.count === 0) return;
    entry.count -= 1;
    if (entry.count === 0 && this.#idle(entry)) this.#entries.delete(ident);
  }

  // A MAIL or RCPT command: its rate in this window.
  event(ident: string, kind: 'message' | 'recipient'): number {
    const entry = this.#entry(ident);
    const rate = this.#bump(entry[kind]);
    this.#noteMax(kind, ident, rate);
    return rate;
  }

  lookup(ident: string): Entry | undefined {
    return this.#entries.get(ident);
  }

  // The maxima since the last report, then forget them, as anvil does
  // after each statistics report.
  takeMaxima(): {
    maxima: Array<[MaximumName, Maximum]>;
    cache: { value: number; when: number };
  } {
    const maxima = [...this.#maxima.entries()];
    const cache = this.#maxCache;
    this.#maxima = new Map();
    this.#maxCache = { value: this.#entries.size, when: this.#now() };
    this.#expire();
    return { maxima, cache };
  }

  #entry(ident: string): Entry {
    let entry = this.#entries.get(ident);
    if (!entry) {
      const now = this.#now();
      entry = {
        count: 0,
        connect: { start: now, count: 0 },
        message: { start: now, count: 0 },
        recipient: { start: now, count: 0 },
      };
      this.#entries.set(ident, entry);
      if (this.#entries.size > this.#maxCache.value)
        this.#maxCache = { value: this.#entries.size, when: now };
    }
    return entry;
  }

  #bump(counter: RateCounter): number {
    const now = this.#now();
    if (now - counter.start >= this.#unitMs) {
      counter.start = now;
      counter.count = 0;
    }
    return ++counter.count;
  }

  #noteMax(name: MaximumName, ident: string, value: number): void {
    const old = this.#maxima.get(name);
    if (old && old.value >= value) return;
    this.#maxima.set(name, { value, ident, when: this.#now() });
  }

  // An entry with no connection and no rate still in its window.
  #idle(entry: Entry): boolean {
    const now = this.#now();
    return [entry.connect, entry.message, entry.recipient].every(
      (c) => now - c.start >= this.#unitMs,
    );
  }

  #expire(): void {
    for (const [ident, entry] of this.#entries)
      if (entry.count === 0 && this.#idle(entry)) this.#entries.delete(ident);
  }
}
