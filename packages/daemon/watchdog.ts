// The daemon_timeout watchdog of the daemon skeleton, child side: a timer
// ends the process when one client has been served for longer than
// daemon_timeout, and a heartbeat tells master the event loop still runs
// (master kills a child whose beat is overdue: master_watchdog.ts). Used
// by daemon.ts only. Limit: without master (no fork channel), no beats.

import { msg } from '../log/log';
import type { ChildToMaster } from './master_proto';

// Beats are rare enough to cost nothing, often enough that master kills
// a blocked child (daemon_timeout plus one period) before qmgr's own
// 30 s grace after daemon_timeout gives up on the delivery.
const BEAT_MIN_MS = 2000;
const BEAT_MAX_MS = 20_000;

export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

// The period of the heartbeat for a daemon_timeout, in milliseconds.
export function beatPeriodMs(timeoutMs: number): number {
  return Math.min(BEAT_MAX_MS, Math.max(BEAT_MIN_MS, timeoutMs / 10));
}

// XXX one process of ours serves many clients, and a client served too
// long takes the whole process down: the other clients' deliveries end
// too and qmgr defers them (Postfix runs one client per process).

export class Watchdog {
  #timeoutMs: number;
  #beat: NodeJS.Timeout;
  #check: NodeJS.Timeout | null = null;
  #started = new Map<object, number>();
  #send: (m: ChildToMaster) => void;

  constructor(timeoutSec: number, send: (m: ChildToMaster) => void) {
    this.#timeoutMs = timeoutSec * 1000;
    this.#send = send;
    const period = beatPeriodMs(this.#timeoutMs);
    // Master may kill us once a beat is this late: one period, plus
    // daemon_timeout of a loop that does not run.
    const within = period + this.#timeoutMs;
    const beat = () => this.#send({ t: 'beat', within });
    beat();
    this.#beat = setInterval(beat, period);
    this.#beat.unref();
  }

  // A client came: its time counts from now until done() for it. Costs a
  // map entry; the one timer is armed only when none is.
  begin(client: object): void {
    this.#started.set(client, monotonicMs());
    if (!this.#check) this.#armFor(this.#timeoutMs);
  }

  done(client: object): void {
    this.#started.delete(client);
  }

  #armFor(delayMs: number): void {
    this.#check = setTimeout(() => this.#onCheck(), Math.max(0, delayMs));
    this.#check.unref();
  }

  // Clients are kept in the order they came, so the first is the oldest;
  // the timer sleeps until that one's time is up.
  #onCheck(): void {
    this.#check = null;
    const first = this.#started.values().next();
    if (first.done) return;
    const left = first.value + this.#timeoutMs - monotonicMs();
    if (left <= 0) msg.fatal('watchdog timeout');
    this.#armFor(left);
  }

  stop(): void {
    clearInterval(this.#beat);
    if (this.#check) clearTimeout(this.#check);
    this.#check = null;
  }
}
