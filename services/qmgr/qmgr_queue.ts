// One destination queue (per transport and nexthop, or per recipient when
// the recipient limit is 1): its waiting jobs and its concurrency window
// with Postfix's slow start and failed-cohort feedback (SCHEDULER_README),
// and the dead state that defers new mail until it expires or F.

import type { QmgrJob } from './qmgr_message';
import type { TransportLimits } from './qmgr_config';

export class QmgrQueue {
  readonly key: string;
  readonly jobs: QmgrJob[] = [];
  busy = 0;
  #window: number;
  #limits: TransportLimits;
  #failCohorts = 0;
  deadUntil = 0; // seconds; 0 when alive
  deadReason = '';

  constructor(key: string, limits: TransportLimits) {
    this.key = key;
    this.#limits = limits;
    this.#window = this.#cap(limits.initialConcurrency);
  }

  get window(): number {
    return this.#window;
  }

  #cap(n: number): number {
    const limit = this.#limits.concurrencyLimit;
    return limit > 0 ? Math.min(limit, n) : n;
  }

  isDead(now: number): boolean {
    if (this.deadUntil && now >= this.deadUntil) this.revive();
    return this.deadUntil > 0;
  }

  hasRoom(): boolean {
    return this.jobs.length > 0 && this.busy < this.#window;
  }

  revive(): void {
    this.deadUntil = 0;
    this.deadReason = '';
    this.#failCohorts = 0;
    this.#window = this.#cap(this.#limits.initialConcurrency);
  }

  // XXX feedback is one whole unit per result; Postfix's
  // *_concurrency_positive_feedback / negative_feedback (1/N, 1/sqrt N)
  // and the *_rate_delay parameters are not read.
  // Positive feedback only while the window limits us (Postfix: N <
  // busy + initial), else a burst would grow it without evidence.
  success(): void {
    this.#failCohorts = 0;
    if (this.#window < this.busy + this.#limits.initialConcurrency)
      this.#window = this.#cap(this.#window + 1);
  }

  // A whole-destination failure: one more 1/N of a failed cohort; past
  // the cohort limit the destination is dead until retryAt.
  failure(reason: string, retryAt: number): void {
    this.#failCohorts += 1 / this.#window;
    if (this.#failCohorts > this.#limits.failedCohortLimit) {
      this.deadUntil = retryAt;
      this.deadReason = reason;
      return;
    }
    this.#window = Math.max(1, this.#window - 1);
  }
}
