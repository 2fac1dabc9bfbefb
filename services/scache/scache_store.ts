// The connection cache's tables, as Postfix's scache(8) keeps them: idle
// sockets with their endpoint properties under an endpoint label
// (address and port), and destination labels (transport and nexthop)
// that point at endpoint labels; both with a time to live. Counts the
// hits and misses for scache's statistics lines. Used by scache.ts.

import type * as net from 'node:net';
import { stopReading } from '../../packages/ipc/scache_proto';

export interface CachedSession {
  endp: string;
  prop: string;
  socket: net.Socket;
}

interface Entry extends CachedSession {
  timer: NodeJS.Timeout;
  drop: () => void; // the idle watch: the peer spoke or went away
}

export interface ScacheStats {
  destHits: number;
  destMisses: number;
  endpHits: number;
  endpMisses: number;
  maxDests: number;
  maxEndps: number;
  maxSessions: number;
}

const WATCHED = ['data', 'end', 'close', 'error'] as const;

function zeroStats(): ScacheStats {
  return {
    destHits: 0,
    destMisses: 0,
    endpHits: 0,
    endpMisses: 0,
    maxDests: 0,
    maxEndps: 0,
    maxSessions: 0,
  };
}

export class ScacheStore {
  readonly #endps = new Map<string, Entry[]>();
  readonly #dests = new Map<string, Map<string, number>>(); // -> expiry ms
  #sessions = 0;
  stats: ScacheStats = zeroStats();

  saveEndp(endp: string, socket: net.Socket, prop: string, ttlMs: number) {
    const entry = { endp, prop, socket } as Entry;
    entry.drop = () => this.#remove(entry, true);
    entry.timer = setTimeout(entry.drop, ttlMs);
    for (const event of WATCHED) socket.on(event, entry.drop);
    socket.resume(); // an idle peer says nothing; anything it says ends it
    const list = this.#endps.get(endp) ?? [];
    list.push(entry);
    this.#endps.set(endp, list);
    this.#sessions++;
    this.#noteSizes();
  }

  saveDest(dest: string, endp: string, ttlMs: number): void {
    const links = this.#dests.get(dest) ?? new Map<string, number>();
    links.set(endp, Date.now() + ttlMs);
    this.#dests.set(dest, links);
    this.#noteSizes();
  }

  // The newest idle session to the endpoint, taken out of the cache.
  findEndp(endp: string): CachedSession | undefined {
    const found = this.#take(endp);
    if (found) this.stats.endpHits++;
    else this.stats.endpMisses++;
    return found;
  }

  // A session to any endpoint that the destination maps to.
  findDest(dest: string): CachedSession | undefined {
    const links = this.#dests.get(dest);
    let found: CachedSession | undefined;
    for (const [endp, expires] of links ?? []) {
      if (expires <= Date.now()) links!.delete(endp);
      else found ??= this.#take(endp);
    }
    if (links && !links.size) this.#dests.delete(dest);
    if (found) this.stats.destHits++;
    else this.stats.destMisses++;
    return found;
  }

  get size(): number {
    return this.#sessions;
  }

  closeAll(): void {
    for (const list of [...this.#endps.values()])
      for (const entry of [...list]) this.#remove(entry, true);
    this.#dests.clear();
  }

  // The statistics of the interval that ends now; a new one starts.
  takeStats(): ScacheStats {
    const stats = this.stats;
    this.stats = zeroStats();
    this.#noteSizes();
    return stats;
  }

  #take(endp: string): CachedSession | undefined {
    const entry = this.#endps.get(endp)?.at(-1);
    if (!entry) return undefined;
    this.#remove(entry, false);
    entry.socket.pause();
    stopReading(entry.socket as never);
    return { endp: entry.endp, prop: entry.prop, socket: entry.socket };
  }

  #remove(entry: Entry, close: boolean): void {
    const list = this.#endps.get(entry.endp);
    const at = list?.indexOf(entry) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    if (!list!.length) this.#endps.delete(entry.endp);
    this.#sessions--;
    clearTimeout(entry.timer);
    for (const event of WATCHED) entry.socket.off(event, entry.drop);
    if (close) closeIdle(entry.socket);
  }

  #noteSizes(): void {
    const s = this.stats;
    s.maxDests = Math.max(s.maxDests, this.#dests.size);
    s.maxEndps = Math.max(s.maxEndps, this.#endps.size);
    s.maxSessions = Math.max(s.maxSessions, this.#sessions);
  }
}

// QUIT without waiting for the reply (SMTP and LMTP both know it), and
// never hold the socket longer than a second for a slow peer.
function closeIdle(socket: net.Socket): void {
  socket.on('error', () => undefined);
  if (socket.destroyed) return;
  socket.resume();
  socket.end('QUIT\r\n');
  setTimeout(() => socket.destroy(), 1000).unref();
}
