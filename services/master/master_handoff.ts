// Clients master hands to one child over the fork channel: master keeps
// its own copy until the child says 'took', and gives the clients of a
// child that died first to another (Node itself would hold a handle in
// flight open for ever). Used by master_service.ts. Limit: a channel
// that has not ended 5 s after its child's exit is taken as read.

import type * as cp from 'node:child_process';
import * as net from 'node:net';
import { isGiveBack } from '../../packages/daemon/give_back';
import { stopReading } from '../../packages/ipc/scache_proto';

// How long master waits after a child's exit for the end of its channel
// (everything the child wrote read) before it reclaims the clients
// anyway. The end comes at once in practice: the kernel closes the
// child's side as it exits.
const CHANNEL_END_WAIT_MS = 5000;
const CHANNEL_END_POLL_MS = 10;

let lastId = 0;

export class HandOff {
  #proc: cp.ChildProcess;
  #held = new Map<number, net.Socket>();

  constructor(proc: cp.ChildProcess) {
    this.#proc = proc;
  }

  // A client is on its way and the child has not said it took it.
  get busy(): boolean {
    return this.#held.size > 0;
  }

  // Send one paused client; onFail gets it back when the channel refuses
  // it. keepOpen leaves master's descriptor open until took() closes it.
  send(socket: net.Socket, onFail: (socket: net.Socket) => void): void {
    const id = ++lastId;
    this.#held.set(id, socket);
    this.#proc.send({ t: 'conn', id }, socket, { keepOpen: true }, (err) => {
      if (!err || !this.#held.delete(id)) return;
      onFail(socket);
    });
  }

  // The child holds its own descriptor and serves the client from here
  // on: master's copy goes, without a shutdown that would end the client.
  took(id: number): void {
    const socket = this.#held.get(id);
    this.#held.delete(id);
    socket?.destroy();
  }

  // The dead child's channel is read to its end: what it did not take it
  // never touched, and it is given back.
  reclaim(): net.Socket[] {
    const left = [...this.#held.values()].filter((s) => !s.destroyed);
    this.#held.clear();
    return left;
  }
}

// Run fn once all that the exited child wrote has been read. Node may
// report the exit before the last messages (a 'took', a 'served'), and
// emits no 'disconnect' while a handle it sent waits for acknowledgement;
// `connected` turns false when the channel's end is read either way.
export function afterChannelEnd(proc: cp.ChildProcess, fn: () => void): void {
  if (!proc.connected) {
    fn();
    return;
  }
  const deadline = Date.now() + CHANNEL_END_WAIT_MS;
  const timer = setInterval(() => {
    if (proc.connected && Date.now() < deadline) return;
    clearInterval(timer);
    fn();
  }, CHANNEL_END_POLL_MS);
}

// A client the child accepted beyond its capacity and gives back, still
// unread: fn hands it to another process.
export function onGiveBack(
  proc: cp.ChildProcess,
  fn: (socket: net.Socket) => void,
): void {
  proc.on('message', (m: unknown, handle?: unknown) => {
    if (!isGiveBack(m) || !(handle instanceof net.Socket)) return;
    stopReading(handle as never);
    fn(handle);
  });
}
