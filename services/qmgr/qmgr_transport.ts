// One transport (a master.cf service such as local or smtp): its process
// limit, its destination queues served in turn, and its dead state when
// the agent cannot be reached (transport_retry_time). Used by the queue
// manager's scheduler.

import type { TransportLimits } from './qmgr_config';
import { QmgrQueue } from './qmgr_queue';

export class QmgrTransport {
  readonly name: string;
  readonly limits: TransportLimits;
  readonly queues = new Map<string, QmgrQueue>();
  busy = 0;
  deadUntil = 0;
  deadReason = '';
  #turn = 0;
  readonly #wake: () => void; // runs the scheduler: a rate delay is over

  constructor(name: string, limits: TransportLimits, wake = () => {}) {
    this.name = name;
    this.limits = limits;
    this.#wake = wake;
  }

  queue(key: string): QmgrQueue {
    let q = this.queues.get(key);
    if (!q) {
      q = new QmgrQueue(key, this.limits, this.#wake);
      this.queues.set(key, q);
    }
    return q;
  }

  isDead(now: number): boolean {
    if (this.deadUntil && now >= this.deadUntil) this.revive();
    return this.deadUntil > 0;
  }

  revive(): void {
    this.deadUntil = 0;
    this.deadReason = '';
  }

  hasRoom(): boolean {
    return this.busy < this.limits.processLimit;
  }

  // The next destination with work and room, round robin, so that one
  // busy destination does not starve the others.
  nextQueue(): QmgrQueue | undefined {
    const all = [...this.queues.values()];
    for (let i = 0; i < all.length; i++) {
      const q = all[(this.#turn + i) % all.length];
      if (q.hasRoom()) {
        this.#turn = (this.#turn + i + 1) % all.length;
        return q;
      }
    }
    return undefined;
  }

  // Drop empty idle queues that are alive, so that the map stays small
  // (one within its rate delay keeps the time of its last delivery).
  prune(): void {
    for (const [key, q] of this.queues)
      if (!q.jobs.length && !q.busy && !q.deadUntil && !q.delaying)
        this.queues.delete(key);
  }
}
