// Listening sockets for master.cf entries: TCP for inet services on the
// addresses inet_interfaces allows, Unix stream sockets for unix services
// under public/ or private/. Master owns them for its whole life, so a
// reload or a dead child never closes them.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as util from 'node:util';
import type { Config } from '../../packages/config/config';
import {
  parseInetService,
  type MasterEntry,
} from '../../packages/config/master_cf';

const WELL_KNOWN_PORTS: Record<string, number> = {
  smtp: 25,
  submission: 587,
  submissions: 465,
  smtps: 465,
  lmtp: 24,
  qmqp: 628,
};

export interface ListenAddress {
  kind: 'inet' | 'unix';
  host?: string;
  port?: number;
  path?: string;
  label: string; // for log lines: "127.0.0.1:2525" or "private/local"
}

export function portNumber(port: string): number {
  if (/^\d+$/.test(port)) return Number(port);
  const known = WELL_KNOWN_PORTS[port];
  if (known === undefined) throw new Error(`unknown service: ${port}/tcp`);
  return known;
}

function interfaceHosts(config: Config): string[] {
  const list = config.list('inet_interfaces').map((h) => h.toLowerCase());
  const protocols = config.list('inet_protocols').map((p) => p.toLowerCase());
  const v6 = protocols.includes('all') || protocols.includes('ipv6');
  const v4 = protocols.includes('all') || protocols.includes('ipv4');
  if (list.length === 0 || list.includes('all')) {
    // One dual-stack socket when both are wanted, as Linux allows.
    return v6 ? ['::'] : ['0.0.0.0'];
  }
  if (list.includes('loopback-only'))
    return [...(v4 ? ['127.0.0.1'] : []), ...(v6 ? ['::1'] : [])];
  return list.map((h) => (h === 'localhost' ? '127.0.0.1' : h));
}

export function listenAddresses(
  entry: MasterEntry,
  config: Config,
): ListenAddress[] {
  const queueDir = config.get('queue_directory');
  if (entry.type === 'inet') {
    const where = parseInetService(entry.name);
    const port = portNumber(where.port);
    const hosts = where.host ? [where.host] : interfaceHosts(config);
    return hosts.map((host) => ({
      kind: 'inet',
      host,
      port,
      label: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
    }));
  }
  const klass = entry.private ? 'private' : 'public';
  return [
    {
      kind: 'unix',
      path: path.join(queueDir, klass, entry.name),
      label: `${klass}/${entry.name}`,
    },
  ];
}

// Bind and listen. Master binds each socket once and keeps it for its
// whole life, but accepts on it only when no child can (setAccepting):
// Postfix's master does the same, so that an idle master does not win
// every accept race and pass each client on over IPC. Clients reach
// master first only when no child took them; pauseOnConnect keeps their
// bytes unread for the child.
export async function openListener(
  addr: ListenAddress,
  owner: { uid: number; gid: number } | null,
): Promise<net.Server> {
  if (addr.kind === 'unix') fs.rmSync(addr.path!, { force: true });
  const bound = bindHandle(addr);
  if (addr.kind === 'unix') fixSocketMode(addr.path!, owner);
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd: bound.fd, backlog: 511 }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  BOUND.set(server, { handle: bound, path: addr.path });
  return server;
}

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
  fd?: number,
  flags?: number,
) => BoundHandle | number;

// XXX net._createServerHandle is Node's internal (the cluster module's)
// way to bind without listening; Node 20 has it, a later Node may not.
function bindHandle(addr: ListenAddress): BoundHandle {
  const create = (net as unknown as { _createServerHandle: CreateServerHandle })
    ._createServerHandle;
  const handle =
    addr.kind === 'unix'
      ? create(addr.path!, -1, -1)
      : create(addr.host!, addr.port!, net.isIP(addr.host!));
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

function bindError(addr: ListenAddress, errno: number): Error {
  const text = util.getSystemErrorMap().get(errno)?.[1] ?? 'failed';
  return new Error(
    `bind ${addr.label}: ${util.getSystemErrorName(errno)}: ${text}`,
  );
}

interface StreamHandle {
  readStart(): number;
  readStop(): number;
}

// Poll the socket in master, or leave it to the children that hold it.
// libuv stops polling a listening socket only through its read flag,
// which is set by a readStart first.
export function setAccepting(server: net.Server, on: boolean): void {
  const handle = (server as unknown as { _handle?: StreamHandle })._handle;
  if (!handle) return;
  handle.readStart();
  if (!on) handle.readStop();
}

// Close for good (postfix stop, a service gone at reload). The Unix
// socket file goes too, as it would with a socket Node bound itself.
export function closeListener(server: net.Server): void {
  server.close();
  const bound = BOUND.get(server);
  BOUND.delete(server);
  if (bound?.path) fs.rmSync(bound.path, { force: true });
}

// Sockets are 0666 as Postfix's; the public/ and private/ directories
// decide who may connect.
function fixSocketMode(
  file: string,
  owner: { uid: number; gid: number } | null,
): void {
  fs.chmodSync(file, 0o666);
  if (owner) fs.chownSync(file, owner.uid, owner.gid);
}
