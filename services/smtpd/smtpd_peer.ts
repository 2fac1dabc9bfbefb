// Who the SMTP client is: its address as Postfix prints it (IPv4-mapped
// IPv6 shown as IPv4) and its name from a reverse lookup confirmed by a
// forward lookup (smtpd_peername_lookup), or "unknown". Used by smtpd.ts
// for each connection. The lookup goes through the system resolver
// (getnameinfo, so /etc/hosts counts: 127.0.0.1 is normally localhost),
// or through smtpd_hosts.ts where that answers the same without it.

import * as dns from 'node:dns';
import * as net from 'node:net';
import { canonicalAddress, HostsResolver } from './smtpd_hosts';
import type { Client } from './smtpd_state';

let hosts: HostsResolver | null = null;

export function clientAddress(socket: net.Socket): string {
  const addr = socket.remoteAddress ?? '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return mapped ? mapped[1] : addr;
}

export async function lookupClient(
  socket: net.Socket,
  enabled: boolean,
  timeoutMs: number,
): Promise<Client> {
  const addr = clientAddress(socket);
  const port = socket.remotePort ?? 0;
  if (!enabled || !net.isIP(addr)) return { name: 'unknown', addr, port };
  hosts ??= new HostsResolver(timeoutMs);
  const lookup = hosts.usable ? hosts.verifiedName(addr) : verifiedName(addr);
  const name = await withTimeout(lookup, timeoutMs);
  return { name: name ?? 'unknown', addr, port };
}

// The reverse name counts only when it maps back to the address, as
// Postfix's smtpd_peer.c demands; a name that is itself an address
// (getnameinfo's fallback) does not count.
async function verifiedName(addr: string): Promise<string | null> {
  try {
    const { hostname } = await dns.promises.lookupService(addr, 25);
    if (!hostname || net.isIP(hostname)) return null;
    const forward = await dns.promises.lookup(hostname, { all: true });
    return forward.some((a) => sameAddress(a.address, addr)) ? hostname : null;
  } catch {
    return null;
  }
}

function sameAddress(a: string, b: string): boolean {
  return canonicalAddress(a) === canonicalAddress(b);
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(null);
      },
    );
  });
}
