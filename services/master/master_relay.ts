// Relays the connection cache's requests and sockets between children:
// Node cannot pass a socket between unrelated processes, but master's fork
// channels carry handles, so an smtp child's idle socket travels child ->
// master -> scache and back. master_service.ts calls relayChild for each
// child it forks. Limits: one scache process (master.cf maxproc 1).

import type * as cp from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import type { MasterEntry } from '../../packages/config/master_cf';
import type { Config } from '../../packages/config/config';
import { msg } from '../../packages/log/log';
import {
  isScacheMessage,
  stopReading,
  SCACHE_REQ,
  SCACHE_STAT,
  type ScacheMessage,
} from '../../packages/ipc/scache_proto';

// How long requests wait for scache to start, and how long "there is no
// scache" is believed before master tries to start it again.
const START_WAIT_MS = 3000;
const ABSENT_RETRY_MS = 10_000;

interface Waiting {
  from: cp.ChildProcess;
  m: ScacheMessage;
  handle?: net.Socket;
}

class Relay {
  readonly #children = new Map<number, cp.ChildProcess>();
  #scache: cp.ChildProcess | null = null;
  #link: net.Socket | null = null; // our client connection to scache
  #waiting: Waiting[] = [];
  #absentUntil = 0;
  #startTimer: NodeJS.Timeout | null = null;

  attach(proc: cp.ChildProcess, entry: MasterEntry, config: Config): void {
    const pid = proc.pid!;
    this.#children.set(pid, proc);
    proc.once('exit', () => {
      this.#gone(proc);
      dropUnsent(proc);
    });
    proc.on('message', (m: unknown, handle?: unknown) => {
      if (!isScacheMessage(m)) return;
      const socket = handle instanceof net.Socket ? handle : undefined;
      if (socket) stopReading(socket as never);
      if (entry.command === 'scache') this.#fromScache(proc, m, socket);
      else this.#fromClient(proc, m, socket, config);
    });
  }

  #gone(proc: cp.ChildProcess): void {
    this.#children.delete(proc.pid!);
    if (this.#scache === proc) this.#scache = null;
  }

  #fromScache(proc: cp.ChildProcess, m: ScacheMessage, socket?: net.Socket) {
    if (m.req === SCACHE_REQ.READY) {
      this.#scache = proc;
      this.#flush();
      return;
    }
    if (m.req !== SCACHE_REQ.REPLY) return;
    const client = m.pid ? this.#children.get(m.pid) : undefined;
    if (!client) {
      socket?.destroy();
      return;
    }
    forward(client, { ...m, pid: undefined }, socket);
  }

  #fromClient(
    proc: cp.ChildProcess,
    m: ScacheMessage,
    socket: net.Socket | undefined,
    config: Config,
  ): void {
    const tagged = 'id' in m ? { ...m, pid: proc.pid } : m;
    if (this.#scache?.connected) {
      forward(this.#scache, tagged, socket);
      return;
    }
    if (Date.now() < this.#absentUntil) {
      refuse({ from: proc, m, handle: socket });
      return;
    }
    this.#waiting.push({ from: proc, m: tagged, handle: socket });
    this.#start(config);
  }

  // scache has no clients of its own: master's connection to its socket
  // makes master start it, and keeps it from exiting when idle.
  #start(config: Config): void {
    this.#startTimer ??= setTimeout(
      () => this.#absent('scache did not answer'),
      START_WAIT_MS,
    );
    if (this.#link && !this.#link.destroyed) return;
    const file = path.join(config.get('queue_directory'), 'private', 'scache');
    const link = net.connect({ path: file });
    this.#link = link;
    link.on('error', (err) => {
      if (!this.#scache) this.#absent(`connect ${file}: ${err.message}`);
    });
    // scache drops our connection when it stops (reload, postfix stop):
    // from then on a new one is started for the next request.
    link.on('close', () => {
      if (this.#link !== link) return;
      this.#link = null;
      this.#scache = null;
    });
  }

  #absent(why: string): void {
    msg.warn(`master: connection cache: ${why}`);
    this.#absentUntil = Date.now() + ABSENT_RETRY_MS;
    this.#link?.destroy();
    this.#link = null;
    this.#stopTimer();
    for (const w of this.#waiting.splice(0)) refuse(w);
  }

  #stopTimer(): void {
    if (this.#startTimer) clearTimeout(this.#startTimer);
    this.#startTimer = null;
  }

  #flush(): void {
    this.#stopTimer();
    this.#absentUntil = 0;
    for (const w of this.#waiting.splice(0))
      if (this.#scache) forward(this.#scache, w.m, w.handle);
  }
}

// Sockets queued for a child behind an unacknowledged handle: Node drops
// that queue, callbacks and all, when the child dies.
const UNSENT = new WeakMap<cp.ChildProcess, Set<net.Socket>>();

function dropUnsent(proc: cp.ChildProcess): void {
  for (const socket of UNSENT.get(proc) ?? []) socket.destroy();
  UNSENT.delete(proc);
}

function forward(
  to: cp.ChildProcess,
  m: ScacheMessage,
  socket?: net.Socket,
): void {
  if (!to.connected) {
    socket?.destroy();
    return;
  }
  if (!socket) {
    to.send(m, () => undefined);
    return;
  }
  // Once written, the message in flight holds the descriptor and our copy
  // can go. Node's own way (keepOpen false) keeps it until the receiver
  // acknowledges, and for ever when the receiver dies first.
  const unsent = UNSENT.get(to) ?? new Set<net.Socket>();
  UNSENT.set(to, unsent.add(socket));
  to.send(m, socket, { keepOpen: true }, () => {
    unsent.delete(socket);
    socket.destroy();
  });
}

// No cache: a lookup is a miss that says so; a socket offered is closed
// (the connection is lost, never mail).
function refuse(w: Waiting): void {
  w.handle?.destroy();
  if (!('id' in w.m) || w.m.req === SCACHE_REQ.REPLY) return;
  forward(w.from, {
    t: 'scache',
    req: SCACHE_REQ.REPLY,
    id: w.m.id,
    status: SCACHE_STAT.UNAVAILABLE,
  });
}

const RELAY = new Relay();

// The hook in master_service.ts: every forked child may speak to scache.
export function relayChild(
  proc: cp.ChildProcess,
  entry: MasterEntry,
  config: Config,
): void {
  if (proc.pid) RELAY.attach(proc, entry, config);
}
