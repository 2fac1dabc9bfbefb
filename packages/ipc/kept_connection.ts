// Connections kept for another request, both sides: the server's wait
// for `request=next` and the client's pool of idle connections. Used by
// the cleanup protocol (smtpd's connection to cleanup, cleanup_client.ts)
// and the delivery protocol (qmgr's to smtp and lmtp, delivery.ts).

// Ours, beside Postfix's protocols, which open a connection per request:
// cheap for a C process, where here a new connection costs both sides a
// socket's set-up and tear-down in JavaScript and master a hand-off. A
// server offers reuse=1 in its greeting; after its answer it waits
// SERVER_IDLE_MS for `request=next` and then greets again. The client
// sends its next request only after that second greeting, so a kept
// connection that the server closed meanwhile costs a retry on a new one,
// never a request lost or served twice; it forgets an idle connection
// before the server would (CLIENT_IDLE_MS).

import type { AttrStream } from './ipc';

export const NEXT_REQUEST = { request: 'next' } as const;
export const SERVER_IDLE_MS = 2000;
const CLIENT_IDLE_MS = 1000;

// When a server stops waiting for more: a stop from master or a
// retirement (idle connections must not hold up a drain, nor a busy
// client keep a retired process for ever), and half of daemon_timeout
// since the connection came, as the skeleton's watchdog counts a client's
// time from its connection.
export interface KeepLimits {
  ending(): boolean;
  lifetimeMs: number;
}

// The limits for a daemon's context (ending read when asked: it is a
// getter of the skeleton's); a test context may have no ending.
export function keepLimits(ctx: {
  config: { time(name: string): number };
  readonly ending?: boolean;
}): KeepLimits {
  return {
    ending: () => ctx.ending ?? false,
    lifetimeMs: (ctx.config.time('daemon_timeout') * 1000) / 2,
  };
}

// Server side, after its answer: true when the client asked for another
// request in time; the caller then greets and serves it.
export async function awaitNextRequest(
  stream: AttrStream,
  limits: KeepLimits,
  since: number,
): Promise<boolean> {
  const expired = () =>
    limits.ending() || Date.now() - since >= limits.lifetimeMs;
  if (expired()) return false;
  const timer = setTimeout(() => stream.destroy(), SERVER_IDLE_MS);
  try {
    const request = await stream.readAttrs();
    return !expired() && request.request === NEXT_REQUEST.request;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

// Client side: idle connections by key (the service they reach), newest
// last. An idle connection keeps no process alive.
export class KeptConnections {
  readonly #kept = new Map<string, AttrStream[]>();
  readonly #timers = new WeakMap<AttrStream, NodeJS.Timeout>();

  keep(key: string, stream: AttrStream): void {
    let list = this.#kept.get(key);
    if (!list) this.#kept.set(key, (list = []));
    list.push(stream);
    stream.socket.unref();
    const kept = list;
    const timer = setTimeout(() => {
      const at = kept.indexOf(stream);
      if (at >= 0) kept.splice(at, 1);
      stream.close();
    }, CLIENT_IDLE_MS);
    timer.unref();
    this.#timers.set(stream, timer);
  }

  // The newest kept connection that is still open, out of the pool; the
  // caller asks it for the next request.
  take(key: string): AttrStream | undefined {
    const list = this.#kept.get(key);
    for (let stream = list?.pop(); stream; stream = list?.pop()) {
      clearTimeout(this.#timers.get(stream));
      if (stream.socket.destroyed || stream.socket.readableEnded) {
        stream.destroy();
        continue;
      }
      stream.socket.ref();
      return stream;
    }
    return undefined;
  }

  // For tests and a clean exit: close every idle connection.
  closeAll(): void {
    for (const list of this.#kept.values())
      for (const stream of list.splice(0)) {
        clearTimeout(this.#timers.get(stream));
        stream.close();
      }
  }
}
