// The smtp agent's client of the shared connection cache (scache): asks
// for an idle socket by destination or endpoint label and hands idle ones
// over, through master's fork channel (packages/ipc/scache_proto.ts).
// Used by smtp_deliver.ts when the agent runs under master.

import * as net from 'node:net';
import {
  isScacheMessage,
  SCACHE_REQ,
  SCACHE_STAT,
  type ScacheMessage,
} from '../../packages/ipc/scache_proto';

export interface CachedSocket {
  socket: net.Socket;
  endp: string;
  prop: string;
}

const ASK_AGAIN_MS = 60_000;

type Reply = Extract<ScacheMessage, { req: 'reply' }>;
type Waiter = (reply: Reply, socket?: net.Socket) => void;

export class ScacheClient {
  readonly #timeoutMs: number;
  readonly #waiting = new Map<number, Waiter>();
  #next = 1;
  // Unknown until the first answer; false when master has no scache.
  available: boolean | undefined;
  #askAgainAt = 0; // after "unavailable": scache may start later

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    process.on('message', (m: unknown, handle?: unknown) => {
      if (!isScacheMessage(m) || m.req !== SCACHE_REQ.REPLY) return;
      const socket = handle instanceof net.Socket ? handle : undefined;
      this.#onReply(m, socket);
    });
  }

  // Only under master: elsewhere (tests) there is nobody to ask.
  static forThisProcess(timeoutMs: number): ScacheClient | undefined {
    return process.send ? new ScacheClient(timeoutMs) : undefined;
  }

  #onReply(m: Reply, socket?: net.Socket): void {
    this.available = m.status !== SCACHE_STAT.UNAVAILABLE;
    if (!this.available) this.#askAgainAt = Date.now() + ASK_AGAIN_MS;
    const waiter = this.#waiting.get(m.id);
    this.#waiting.delete(m.id);
    if (waiter) waiter(m, socket);
    else socket?.destroy(); // it came after we stopped waiting
  }

  findDest(label: string): Promise<CachedSocket | undefined> {
    return this.#find(SCACHE_REQ.FIND_DEST, label);
  }

  findEndp(label: string): Promise<CachedSocket | undefined> {
    return this.#find(SCACHE_REQ.FIND_ENDP, label);
  }

  #find(
    req: typeof SCACHE_REQ.FIND_DEST | typeof SCACHE_REQ.FIND_ENDP,
    label: string,
  ): Promise<CachedSocket | undefined> {
    const resting = this.available === false && Date.now() < this.#askAgainAt;
    if (resting || !process.connected) return Promise.resolve(undefined);
    const id = this.#next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(undefined);
      }, this.#timeoutMs);
      this.#waiting.set(id, (reply, socket) => {
        clearTimeout(timer);
        const ok = reply.status === SCACHE_STAT.OK && socket;
        if (!ok) socket?.destroy();
        resolve(
          ok ? { socket, endp: reply.endp!, prop: reply.prop! } : undefined,
        );
      });
      process.send!({ t: 'scache', req, id, label });
    });
  }

  // Hands the socket over (it is closed here once sent) and maps the
  // destination to it; false when there is no cache to take it.
  save(
    dest: string,
    endp: string,
    socket: net.Socket,
    prop: string,
    ttl: number,
  ) {
    if (!this.available || !process.connected) return false;
    const m = {
      t: 'scache',
      req: SCACHE_REQ.SAVE_ENDP,
      label: endp,
      prop,
      ttl,
    };
    process.send!(m, socket, { keepOpen: false }, (err) => {
      if (err) socket.destroy();
    });
    const d = {
      t: 'scache',
      req: SCACHE_REQ.SAVE_DEST,
      label: dest,
      endp,
      ttl,
    };
    process.send!(d);
    return true;
  }
}
