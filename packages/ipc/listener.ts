// Listening sockets that a process can hold without accepting on them:
// master binds each service's socket once, hands it to the children and
// polls it itself only while no child can take clients, as Postfix's
// master does. Used by services/master; a child given such a socket can
// pause it the same way. Relies on Node internals (see XXX below).

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as util from 'node:util';

export type ListenerAddress =
  | { kind: 'unix'; path: string; label: string }
  | { kind: 'inet'; host: string; port: number; label: string };

// The handle that bound the address. Node's net.Server cannot stop
// polling a socket it bound itself (its handle refuses readStart); a
// second handle opened on the same descriptor can. The first is never
// polled and never closed: closing it would close the descriptor the
// second one uses.
interface BoundHandle {
  fd: number;
  getsockname?(out: { port?: number }): number;
}

const BOUND = new Map<net.Server, { handle: BoundHandle; path?: string }>();

type CreateServerHandle = (
  address: string,
  port: number,
  addressType: number,
) => BoundHandle | number;

// Bind and listen; the server accepts until setAccepting(server, false).
// Clients it accepts stay paused (pauseOnConnect) for whoever serves them.
export async function openPausableListener(
  addr: ListenerAddress,
  backlog = 511,
): Promise<net.Server> {
  const bound = bindHandle(addr);
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd: bound.fd, backlog }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const path = addr.kind === 'unix' ? addr.path : undefined;
  BOUND.set(server, { handle: bound, path });
  return server;
}

// XXX net._createServerHandle is Node's internal (the cluster module's)
// way to bind without listening; Node 20 has it, a later Node may not.
function bindHandle(addr: ListenerAddress): BoundHandle {
  const create = (net as unknown as { _createServerHandle: CreateServerHandle })
    ._createServerHandle;
  const handle =
    addr.kind === 'unix'
      ? create(addr.path, -1, -1)
      : create(addr.host, addr.port, net.isIP(addr.host));
  if (typeof handle === 'number') throw bindError(addr, handle);
  // libuv keeps a TCP bind's EADDRINUSE for the listen call, which our
  // second handle never sees; an unbound socket would then listen on a
  // random port.
  const where: { port?: number } = {};
  if (addr.kind === 'inet' && addr.port && handle.getsockname) {
    handle.getsockname(where);
    if (where.port !== addr.port)
      throw bindError(addr, -(os.constants.errno.EADDRINUSE ?? 98));
  }
  return handle;
}

function bindError(addr: ListenerAddress, errno: number): Error {
  const text = util.getSystemErrorMap().get(errno)?.[1] ?? 'failed';
  return new Error(
    `bind ${addr.label}: ${util.getSystemErrorName(errno)}: ${text}`,
  );
}

interface StreamHandle {
  readStart(): number;
  readStop(): number;
}

// XXX setAccepting reaches into net.Server's _handle for libuv's
// readStart/readStop, which Node does not document for listening
// sockets; a Node upgrade must rerun listener_test.ts.
// Poll the socket, or leave it to the other processes that hold it;
// clients wait in the kernel's backlog meanwhile. libuv stops polling a
// listening socket only through its read flag, which a readStart sets.
// Works on a server opened here and on one received over the fork
// channel (both are opened from a descriptor).
export function setAccepting(server: net.Server, on: boolean): void {
  const handle = (server as unknown as { _handle?: StreamHandle })._handle;
  if (!handle) return;
  handle.readStart();
  if (!on) handle.readStop();
}

// Close for good. The Unix socket file goes too, as it would with a
// socket Node bound itself.
export function closeListener(server: net.Server): void {
  server.close();
  const bound = BOUND.get(server);
  BOUND.delete(server);
  if (bound?.path) fs.rmSync(bound.path, { force: true });
}
