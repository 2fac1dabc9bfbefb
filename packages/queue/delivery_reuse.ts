// Kept qmgr-to-agent connections: an agent that offers reuse=1 in its
// greeting serves another request on the same connection, so that qmgr
// pays the connect and master's hand-off once per burst. Used by
// delivery.ts on both sides; smtp and lmtp offer it.

// Ours, beside Postfix's protocol, as the cleanup connection smtpd keeps
// (cleanup_client.ts): Postfix's qmgr opens a connection per request,
// cheap for a C process; here a new connection costs the agent and qmgr
// a socket's set-up and tear-down in JavaScript and master a hand-off.
// After its results the agent waits AGENT_IDLE_MS for `request=next` and
// then greets again; qmgr sends the next request only after that second
// greeting, so a connection the agent closed meanwhile costs a retry on
// a new one and never a request lost or delivered twice. qmgr forgets an
// idle connection before the agent would (KEEP_IDLE_MS).

import type { AttrStream } from '../ipc/ipc';

export const DELIVERY_NEXT = { request: 'next' } as const;
export const AGENT_IDLE_MS = 2000;
const KEEP_IDLE_MS = 1000;

// What the agent needs to decide whether to wait for another request:
// a stop from master ends it (idle connections must not hold up a drain),
// and so does half of daemon_timeout since the connection came, as the
// skeleton's watchdog counts a client's time from its connection.
export interface AgentReuse {
  stopping(): boolean;
  lifetimeMs: number;
}

// Agent side, after its results: true when qmgr asked for another
// request in time; the caller then greets and reads it.
export async function awaitNextRequest(
  stream: AttrStream,
  reuse: AgentReuse,
  since: number,
): Promise<boolean> {
  const expired = () =>
    reuse.stopping() || Date.now() - since >= reuse.lifetimeMs;
  if (expired()) return false;
  const timer = setTimeout(() => stream.destroy(), AGENT_IDLE_MS);
  try {
    const request = await stream.readAttrs();
    return !expired() && request.request === DELIVERY_NEXT.request;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

// qmgr side: idle connections by queue directory and transport.
const kept = new Map<string, AttrStream[]>();
const timers = new WeakMap<AttrStream, NodeJS.Timeout>();

const keyOf = (queueDir: string, transport: string) =>
  `${queueDir}\0${transport}`;

export function keepConnection(
  queueDir: string,
  transport: string,
  stream: AttrStream,
): void {
  const key = keyOf(queueDir, transport);
  let list = kept.get(key);
  if (!list) kept.set(key, (list = []));
  list.push(stream);
  stream.socket.unref();
  const timer = setTimeout(() => {
    const at = list.indexOf(stream);
    if (at >= 0) list.splice(at, 1);
    stream.close();
  }, KEEP_IDLE_MS);
  timer.unref();
  timers.set(stream, timer);
}

// The most recently kept connection that is still open, taken out of the
// pool; the caller asks it for the next request.
export function takeConnection(
  queueDir: string,
  transport: string,
): AttrStream | undefined {
  const list = kept.get(keyOf(queueDir, transport));
  for (let stream = list?.pop(); stream; stream = list?.pop()) {
    clearTimeout(timers.get(stream));
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
export function dropKeptConnections(): void {
  for (const list of kept.values())
    for (const stream of list.splice(0)) {
      clearTimeout(timers.get(stream));
      stream.close();
    }
}
