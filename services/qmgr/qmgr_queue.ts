// One destination queue (per transport and nexthop, or per recipient when
// the recipient limit is 1): its waiting jobs and its concurrency window
// with Postfix's slow start, positive and negative feedback and failed
// cohorts (SCHEDULER_README), the rate delay between deliveries, and the
// dead state that defers new mail until it expires or F.

import type { QmgrJob } from './qmgr_message';
import type { Feedback, TransportLimits } from './qmgr_config';

const ONE: Feedback = () => 1;
const STEP = 1 - 1e-9;

export class QmgrQueue {
  readonly key: string;
  readonly jobs: QmgrJob[] = [];
  #busy = 0;
  #window: number;
  #limits: TransportLimits;
  #success = 0; // positive feedback not yet a whole window step
  #failure = 0; // negative feedback not yet a whole window step
  #failCohorts = 0;
  #nextStart = 0; // ms: the rate delay's earliest next delivery
  #wakeTimer: NodeJS.Timeout | null = null;
  #wake: () => void;
  deadUntil = 0; // seconds; 0 when alive
  deadReason = '';

  constructor(key: string, limits: TransportLimits, wake = () => {}) {
    this.key = key;
    this.#limits = limits;
    this.#wake = wake;
    this.#window = this.#cap(limits.initialConcurrency);
  }

  get window(): number {
    return this.#window;
  }

  // Deliveries in progress; the end of each starts the rate delay.
  get busy(): number {
    return this.#busy;
  }

  set busy(n: number) {
    if (n < this.#busy && this.#rateDelayMs)
      this.#nextStart = Date.now() + this.#rateDelayMs;
    this.#busy = n;
  }

  get delaying(): boolean {
    return this.#nextStart > Date.now();
  }

  get #rateDelayMs(): number {
    return (this.#limits.rateDelay ?? 0) * 1000;
  }

  #cap(n: number): number {
    const limit = this.#limits.concurrencyLimit;
    return limit > 0 ? Math.min(limit, n) : n;
  }

  isDead(now: number): boolean {
    if (this.deadUntil && now >= this.deadUntil) this.revive();
    return this.deadUntil > 0;
  }

  // With a rate delay one delivery at a time, the next one the delay
  // after the last ended (Postfix: the window is then 1); the queue
  // manager is woken when that time comes.
  hasRoom(): boolean {
    if (!this.jobs.length) return false;
    if (!this.#rateDelayMs) return this.#busy < this.#window;
    if (this.#busy > 0) return false;
    const wait = this.#nextStart - Date.now();
    if (wait <= 0) return true;
    this.#wakeIn(wait);
    return false;
  }

  #wakeIn(ms: number): void {
    if (this.#wakeTimer) return;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = null;
      this.#wake();
    }, ms);
    this.#wakeTimer.unref();
  }

  revive(): void {
    this.deadUntil = 0;
    this.deadReason = '';
    this.#failCohorts = 0;
    this.#success = 0;
    this.#failure = 0;
    this.#window = this.#cap(this.#limits.initialConcurrency);
  }

  // A delivery without connection or handshake failure: positive
  // feedback, only while the window limits us (Postfix: N < busy +
  // initial), else a burst would grow it without evidence.
  success(): void {
    this.#failCohorts = 0;
    if (this.#window >= this.#busy + this.#limits.initialConcurrency) return;
    this.#success += (this.#limits.positiveFeedback ?? ONE)(this.#window);
    // Whole window units only; a little slack for rounding of 1/N sums.
    while (
      this.#success >= STEP &&
      this.#cap(this.#window + 1) > this.#window
    ) {
      this.#window++;
      this.#success -= 1;
      this.#failure = 0;
    }
  }

  // A whole-destination failure: one more 1/N of a failed cohort; when
  // failed_cohort_limit cohorts have failed (0: the first failure) the
  // destination is dead until retryAt, else negative feedback shrinks the
  // window (never below 1).
  failure(reason: string, retryAt: number): void {
    this.#failCohorts += 1 / this.#window;
    const limit = this.#limits.failedCohortLimit;
    if (this.#failCohorts >= limit - 1e-9) {
      this.deadUntil = retryAt;
      this.deadReason = reason;
      return;
    }
    this.#failure += (this.#limits.negativeFeedback ?? ONE)(this.#window);
    while (this.#failure >= STEP && this.#window > 1) {
      this.#window--;
      this.#failure -= 1;
      this.#success = 0;
    }
  }
}
