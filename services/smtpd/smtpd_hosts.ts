// The client name lookup without the system resolver's thread pool: when
// nsswitch.conf says "hosts: files dns" (Debian's default), /etc/hosts
// then DNS through c-ares answer exactly as getnameinfo and getaddrinfo.

// Why: Node runs getnameinfo and getaddrinfo on its thread pool, and the
// two round trips to a worker thread, with glibc reopening nsswitch.conf,
// hosts and resolv.conf each time, cost smtpd about 0.2 ms of CPU per
// connection here (scripts/bench --mode relay); a table read once and
// c-ares on the event loop cost a few microseconds for a name in
// /etc/hosts. Any other hosts: line (mdns, myhostname, ldap, a [action])
// keeps the system resolver, which alone knows those sources.

import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';

// How often the two files are looked at for a change.
const RECHECK_MS = 1000;

interface HostsTable {
  nameOf: Map<string, string>; // address -> first name of its first line
  addrsOf: Map<string, Set<string>>; // lower-case name -> addresses
}

export class HostsResolver {
  readonly #hostsPath: string;
  readonly #nsswitchPath: string;
  readonly #resolver: dns.promises.Resolver;
  #checkedAt = 0;
  #stamp = '';
  #fast = false;
  #table: HostsTable = { nameOf: new Map(), addrsOf: new Map() };

  // The files and a DNS server are given by tests; smtpd uses the
  // system's (resolv.conf's servers, as glibc's dns source).
  constructor(
    timeoutMs: number,
    hostsPath = '/etc/hosts',
    nsswitchPath = '/etc/nsswitch.conf',
    server = '',
  ) {
    this.#hostsPath = hostsPath;
    this.#nsswitchPath = nsswitchPath;
    this.#resolver = new dns.promises.Resolver({
      timeout: timeoutMs,
      tries: 2,
    });
    if (server) this.#resolver.setServers([server]);
  }

  // False: the system resolver must answer (another hosts: line).
  get usable(): boolean {
    this.#refresh();
    return this.#fast;
  }

  // The verified name of addr, or null, as smtpd_peer.ts's system path.
  async verifiedName(addr: string): Promise<string | null> {
    this.#refresh();
    const key = canonicalAddress(addr);
    let name = this.#table.nameOf.get(key) ?? null;
    if (name === null) {
      try {
        name = (await this.#resolver.reverse(addr))[0] ?? null;
      } catch {
        return null;
      }
    }
    if (!name || net.isIP(name)) return null;
    return (await this.#forward(name, key)) ? name : null;
  }

  // Does name map back to the address? The hosts file answers alone for
  // a name it has, as glibc's files source does with "files dns".
  async #forward(name: string, key: string): Promise<boolean> {
    const listed = this.#table.addrsOf.get(name.toLowerCase());
    if (listed) return listed.has(key);
    try {
      const found =
        net.isIP(key) === 6
          ? await this.#resolver.resolve6(name)
          : await this.#resolver.resolve4(name);
      return found.some((a) => canonicalAddress(a) === key);
    } catch {
      return false;
    }
  }

  #refresh(): void {
    const now = Date.now();
    if (now - this.#checkedAt < RECHECK_MS) return;
    this.#checkedAt = now;
    const stamp =
      fileStamp(this.#nsswitchPath) + ' ' + fileStamp(this.#hostsPath);
    if (stamp === this.#stamp) return;
    this.#stamp = stamp;
    this.#fast = filesThenDns(readOrEmpty(this.#nsswitchPath));
    this.#table = parseHosts(readOrEmpty(this.#hostsPath));
  }
}

// "hosts: files dns" and nothing else, comments aside.
export function filesThenDns(nsswitch: string): boolean {
  for (const raw of nsswitch.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^hosts\s*:(.*)$/.exec(line);
    if (m) return m[1].trim().split(/\s+/).join(' ') === 'files dns';
  }
  // No hosts: line: glibc's default is "dns files"; leave it to glibc.
  return false;
}

export function parseHosts(text: string): HostsTable {
  const table: HostsTable = { nameOf: new Map(), addrsOf: new Map() };
  for (const raw of text.split('\n')) {
    const words = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (words.length < 2 || !net.isIP(words[0])) continue;
    const addr = canonicalAddress(words[0]);
    if (!table.nameOf.has(addr)) table.nameOf.set(addr, words[1]);
    for (const name of words.slice(1)) {
      const key = name.toLowerCase();
      let set = table.addrsOf.get(key);
      if (!set) table.addrsOf.set(key, (set = new Set()));
      set.add(addr);
    }
  }
  return table;
}

// One spelling per address: IPv6 compressed and lower case, as the URL
// parser writes it, IPv4-mapped IPv6 as IPv4.
export function canonicalAddress(addr: string): string {
  if (net.isIP(addr) !== 6) return addr;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1];
  try {
    return new URL(`http://[${addr.replace(/%.*/, '')}]/`).hostname.slice(
      1,
      -1,
    );
  } catch {
    return addr.toLowerCase();
  }
}

function fileStamp(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.ino}.${st.size}.${st.mtimeMs}`;
  } catch {
    return 'none';
  }
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
