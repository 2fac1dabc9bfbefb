// Listening sockets for master.cf entries: TCP for inet services on the
// addresses inet_interfaces allows, Unix stream sockets for unix services
// under public/ or private/. Master owns them for its whole life, so a
// reload or a dead child never closes them.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Config } from '../../packages/config/config';
import { openPausableListener } from '../../packages/ipc/listener';
import {
  parseInetService,
  type MasterEntry,
} from '../../packages/config/master_cf';

export { closeListener, setAccepting } from '../../packages/ipc/listener';

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
  const server = await openPausableListener(
    addr.kind === 'unix'
      ? { kind: 'unix', path: addr.path!, label: addr.label }
      : { kind: 'inet', host: addr.host!, port: addr.port!, label: addr.label },
  );
  if (addr.kind === 'unix') fixSocketMode(addr.path!, owner);
  return server;
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
