// Connection reuse inside one smtp or lmtp process, the first level of
// the connection cache: after a delivery one session per nexthop is
// parked for smtp_connection_cache_time_limit and the next request to
// that nexthop in this process sends RSET and goes on. Sessions beyond
// the one go to the shared scache (smtp_scache.ts).

import type { Session } from './smtp_session';

interface Parked {
  session: Session;
  timer: NodeJS.Timeout;
}

export interface CacheLimits {
  idleMs: number; // smtp_connection_cache_time_limit
  reuseMs: number; // smtp_connection_reuse_time_limit
  reuseCount?: number; // smtp_connection_reuse_count_limit; 0 = none
}

export class SessionCache {
  readonly #parked = new Map<string, Parked>();

  // A live session for this nexthop, reset for a new transaction.
  async take(nexthop: string): Promise<Session | undefined> {
    const parked = this.#parked.get(nexthop);
    if (!parked) return undefined;
    this.#parked.delete(nexthop);
    clearTimeout(parked.timer);
    if (await parked.session.reset()) return parked.session;
    parked.session.close();
    return undefined;
  }

  has(nexthop: string): boolean {
    return this.#parked.has(nexthop);
  }

  // Keeps the session unless it is too old; one per nexthop, the newest.
  put(nexthop: string, session: Session, limits: CacheLimits): void {
    if (Date.now() - session.openedAt >= limits.reuseMs) {
      session.close();
      return;
    }
    this.#parked.get(nexthop)?.session.close();
    const timer = setTimeout(
      () => this.#expire(nexthop, session),
      limits.idleMs,
    );
    timer.unref();
    this.#parked.set(nexthop, { session, timer });
  }

  #expire(nexthop: string, session: Session): void {
    if (this.#parked.get(nexthop)?.session !== session) return;
    this.#parked.delete(nexthop);
    session.close();
  }

  closeAll(): void {
    for (const { session, timer } of this.#parked.values()) {
      clearTimeout(timer);
      session.close();
    }
    this.#parked.clear();
  }
}
