// Nexthop parsing and DNS for the smtp and lmtp clients: "[host]:port"
// skips MX, "domain" looks up MX then A/AAAA, "unix:/path" is an LMTP
// socket. Failures carry Postfix's DSN code and reason text. Limits: no
// DNSSEC, no smtp_host_lookup=native, AAAA only after A.

import { Resolver } from 'node:dns/promises';
import * as net from 'node:net';

export type Target =
  | { kind: 'inet'; host: string; addr: string; port: number }
  | { kind: 'unix'; host: string; path: string };

export interface Nexthop {
  kind: 'inet' | 'unix';
  host: string; // domain, host name or socket path
  port: number;
  mx: boolean; // false for [host] and for lmtp
}

export class LookupError extends Error {
  constructor(
    readonly dsn: string,
    reason: string,
  ) {
    super(reason);
  }
}

export interface LookupSettings {
  resolverAddress: string; // "", "addr" or "addr:port"
  myhostname: string;
  timeoutMs: number;
}

// Postfix's nexthop forms: [inet:]host[:port], [inet:][host][:port],
// unix:path (lmtp). A port may be a number or "smtp"/"lmtp".
export function parseNexthop(text: string, defaultPort: number, lmtp = false) {
  if (text.startsWith('unix:'))
    return { kind: 'unix', host: text.slice(5), port: 0, mx: false } as Nexthop;
  const rest = text.startsWith('inet:') ? text.slice(5) : text;
  const m = /^\[([^\]]+)\](?::(\w+))?$/.exec(rest);
  if (m) return inet(m[1], m[2], defaultPort, false);
  if (rest.startsWith('['))
    throw new LookupError('5.3.5', `bad nexthop destination: ${text}`);
  const colon = rest.lastIndexOf(':');
  if (colon > 0 && !net.isIPv6(rest))
    return inet(
      rest.slice(0, colon),
      rest.slice(colon + 1),
      defaultPort,
      !lmtp,
    );
  return inet(rest, undefined, defaultPort, !lmtp);
}

const NAMED_PORTS: Record<string, number> = { smtp: 25, lmtp: 24 };

function inet(
  host: string,
  port: string | undefined,
  def: number,
  mx: boolean,
) {
  const n = port === undefined ? def : (NAMED_PORTS[port] ?? Number(port));
  if (!host || !Number.isInteger(n) || n < 1 || n > 65535)
    throw new LookupError('5.3.5', `bad nexthop destination: ${host}:${port}`);
  return { kind: 'inet', host: host.toLowerCase(), port: n, mx } as Nexthop;
}

export function makeResolver(s: LookupSettings): Resolver {
  const resolver = new Resolver({ timeout: s.timeoutMs, tries: 2 });
  if (s.resolverAddress) resolver.setServers([s.resolverAddress]);
  return resolver;
}

// The hosts to try, best first: one per address of each MX host.
export async function lookupTargets(
  hop: Nexthop,
  s: LookupSettings,
  resolver = makeResolver(s),
): Promise<Target[]> {
  // Postfix names a Unix-domain peer after this host: myhostname[path].
  if (hop.kind === 'unix')
    return [{ kind: 'unix', host: s.myhostname, path: hop.host }];
  const hosts = hop.mx ? await mxHosts(hop.host, s, resolver) : [hop.host];
  const targets: Target[] = [];
  let last: LookupError | undefined;
  for (const host of hosts) {
    try {
      for (const addr of await addresses(host, resolver))
        targets.push({ kind: 'inet', host, addr, port: hop.port });
    } catch (err) {
      if (!(err instanceof LookupError)) throw err;
      last = err;
    }
  }
  if (!targets.length) throw last ?? new LookupError('4.4.3', 'no hosts');
  return targets;
}

// MX hosts in preference order; a domain without MX is its own host
// (RFC 5321 section 5.1). Equal preferences are shuffled, as Postfix does.
async function mxHosts(
  domain: string,
  s: LookupSettings,
  resolver: Resolver,
): Promise<string[]> {
  if (net.isIP(domain)) return [domain];
  let records: Array<{ exchange: string; priority: number }>;
  try {
    records = await resolver.resolveMx(domain);
  } catch (err) {
    if (dnsCode(err) === 'ENODATA') return [domain];
    throw dnsError(domain, 'MX', err);
  }
  if (!records.length) return [domain];
  const sorted = records
    .map((r) => ({ ...r, key: r.priority + Math.random() / 2 }))
    .sort((a, b) => a.key - b.key);
  return selfCheck(domain, sorted, s.myhostname);
}

// Postfix drops MX hosts at or below our own preference; when we are the
// best MX there is nowhere to go.
function selfCheck(
  domain: string,
  sorted: Array<{ exchange: string; priority: number }>,
  myhostname: string,
): string[] {
  const me = sorted.find(
    (r) => r.exchange.toLowerCase() === myhostname.toLowerCase(),
  );
  const kept = me ? sorted.filter((r) => r.priority < me.priority) : sorted;
  if (!kept.length)
    throw new LookupError('5.4.6', `mail for ${domain} loops back to myself`);
  return kept.map((r) => r.exchange.toLowerCase());
}

async function addresses(host: string, resolver: Resolver): Promise<string[]> {
  if (net.isIP(host)) return [host];
  let v4: string[] = [];
  try {
    v4 = await resolver.resolve4(host);
  } catch (err) {
    if (dnsCode(err) !== 'ENODATA') throw dnsError(host, 'A', err);
  }
  try {
    return [...v4, ...(await resolver.resolve6(host))];
  } catch (err) {
    if (v4.length) return v4;
    throw dnsError(host, 'AAAA', err);
  }
}

function dnsCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException).code ?? '');
}

// Postfix's dns_strerror texts, with its split between a name that does
// not exist (permanent) and a server that did not answer (try again).
export function dnsError(
  name: string,
  type: string,
  err: unknown,
): LookupError {
  const head = `Host or domain name not found. Name service error for name=${name} type=${type}`;
  switch (dnsCode(err)) {
    case 'ENOTFOUND':
      return new LookupError('5.4.4', `${head}: Host not found`);
    case 'ENODATA':
      return new LookupError(
        '5.4.4',
        `${head}: Host found but no data record of requested type`,
      );
    default:
      return new LookupError('4.4.3', `${head}: Host not found, try again`);
  }
}
