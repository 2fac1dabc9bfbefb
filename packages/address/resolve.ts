// Address resolution as trivial-rewrite's "resolve" request does: the
// recipient domain gives an address class, the class a default
// transport:nexthop, and transport_maps may override both.
//
//   const r = await resolveAddress('joe@example.com', config);
//   // { transport: 'smtp', nexthop: 'example.com',
//   //   recipient: 'joe@example.com', class: 'default', flags: 4096 }
//   if (r.flags & RESOLVE_FLAG.FAIL) defer();  // a table lookup failed
//
// Classes, first match wins: local (mydestination, or an [address]
// literal of inet_interfaces/proxy_interfaces, or no domain),
// virtual_alias (virtual_alias_domains), virtual (virtual_mailbox_domains),
// relay (relay_domains), default. Results are cached for CACHE_MS per
// Config object, since qmgr asks once per recipient.

import * as os from 'node:os';
import type { TableConfig } from '../tables/dict';
import { DICT_FLAG, DictError, Maps } from '../tables/dict';
import {
  addressLiteral,
  canonicalDomain,
  joinAddress,
  splitAddress,
  splitExtension,
  validDomain,
} from './address';
import {
  configBool,
  configList,
  inConfigList,
  parseTransport,
} from './config_values';
import type { TransportSpec } from './config_values';
import { DomainList } from './domain_list';
import { rewriteAddress, unrouteBare } from './rewrite';

export { rewriteAddress } from './rewrite';
export type { RewriteContext } from './rewrite';

// Postfix's resolve_clnt.h bits, so that the rewrite service can send
// them unchanged.
export const RESOLVE_FLAG = {
  FINAL: 1 << 0, // final destination: local, virtual or virtual alias
  ROUTED: 1 << 1, // a route (user%host, host!user) was removed
  ERROR: 1 << 2, // bad address syntax: transport is error
  FAIL: 1 << 3, // a table lookup failed: defer
} as const;

export const RESOLVE_CLASS = {
  local: 1 << 8,
  virtual_alias: 1 << 9,
  virtual: 1 << 10,
  relay: 1 << 11,
  default: 1 << 12,
} as const;

export type AddressClass = keyof typeof RESOLVE_CLASS;

export interface Resolved {
  transport: string;
  nexthop: string;
  recipient: string;
  class: AddressClass;
  flags: number;
}

const CACHE_MS = 5000;
const CACHE_SIZE = 2000;

const resolvers = new WeakMap<TableConfig, Resolver>();

export async function resolveAddress(
  address: string,
  config: TableConfig,
): Promise<Resolved> {
  let resolver = resolvers.get(config);
  if (!resolver) {
    resolver = new Resolver(config);
    resolvers.set(config, resolver);
  }
  return resolver.resolve(address);
}

// Tables and lists are opened once per Config; a reload makes a new
// Config and so a new Resolver.
export class Resolver {
  #config: TableConfig;
  #lists = new Map<string, DomainList>();
  #transportMaps: Maps;
  #cache = new Map<string, { result: Resolved; expires: number }>();
  #ownLiterals: Set<string>;

  constructor(config: TableConfig) {
    this.#config = config;
    this.#transportMaps = new Maps(
      config.get('transport_maps'),
      config,
      {},
      'transport_maps',
    );
    this.#ownLiterals = interfaceAddresses(config);
  }

  async resolve(address: string): Promise<Resolved> {
    const now = Date.now();
    const hit = this.#cache.get(address);
    if (hit && hit.expires > now) return { ...hit.result };
    const result = await this.#resolveUncached(address);
    if (!(result.flags & RESOLVE_FLAG.FAIL))
      this.#remember(address, result, now);
    return { ...result };
  }

  #remember(address: string, result: Resolved, now: number): void {
    if (this.#cache.size >= CACHE_SIZE) this.#cache.clear();
    this.#cache.set(address, { result, expires: now + CACHE_MS });
  }

  async #resolveUncached(address: string): Promise<Resolved> {
    const input = address === '' ? 'mailer-daemon' : address;
    const canonical = await rewriteAddress(input, 'local', this.#config);
    try {
      return await this.#route(canonical);
    } catch (err) {
      // A table could not answer: qmgr and smtpd defer on FAIL.
      if (err instanceof DictError) return failed(canonical);
      throw err;
    }
  }

  async #route(address: string): Promise<Resolved> {
    const { local, domain, routed } = await this.#unroute(address);
    const recipient = joinAddress(local, domain);
    const flags = routed ? RESOLVE_FLAG.ROUTED : 0;
    if (!validDomain(domain)) return badSyntax(recipient, flags);
    const klass = await this.#classify(domain);
    const base = this.#classDefault(klass, domain);
    const result: Resolved = {
      ...base,
      recipient,
      class: klass,
      flags: flags | RESOLVE_CLASS[klass] | classFlags(klass),
    };
    if (klass !== 'virtual_alias') await this.#applyTransportMaps(result);
    return result;
  }

  // Undo routes aimed at us: "user%host@local" and "host!user@local"
  // become user@host while the domain is local. No domain means us.
  async #unroute(
    address: string,
  ): Promise<{ local: string; domain: string; routed: boolean }> {
    let { local, domain } = splitAddress(address);
    domain = domain.replace(/\.+$/, '');
    let routed = false;
    for (let hops = 0; hops < 10; hops++) {
      if (domain !== '' && !(await this.#isLocal(domain))) break;
      const next = unrouteBare(local, this.#config);
      if (next.domain === '') break;
      ({ local, domain } = next);
      routed = true;
    }
    if (domain === '') domain = this.#config.get('myhostname');
    return { local, domain, routed };
  }

  async #classify(domain: string): Promise<AddressClass> {
    if (await this.#isLocal(domain)) return 'local';
    if (await this.#list('virtual_alias_domains').match(domain))
      return 'virtual_alias';
    if (await this.#list('virtual_mailbox_domains').match(domain))
      return 'virtual';
    if (await this.#list('relay_domains').match(domain)) return 'relay';
    return 'default';
  }

  // Postfix's resolve_local: mydestination, or [addr] of our interfaces.
  async #isLocal(domain: string): Promise<boolean> {
    const literal = addressLiteral(domain);
    if (literal !== undefined)
      return this.#ownLiterals.has(literal.toLowerCase());
    return this.#list('mydestination').match(domain);
  }

  #list(name: string): DomainList {
    let list = this.#lists.get(name);
    if (!list) {
      const parents = inConfigList(
        this.#config,
        'parent_domain_matches_subdomains',
        name,
      );
      list = new DomainList(name, this.#config.get(name), parents);
      this.#lists.set(name, list);
    }
    return list;
  }

  // The nexthop, as transport(5) ranks the sources: transport_maps (done
  // later), then the class's own transport:nexthop, then relayhost for
  // relay and default mail, then the recipient domain, lower-cased so
  // that qmgr keeps Example.COM and example.com in one queue. The domain is lower-
  // cased so that qmgr puts Example.COM and example.com in one queue.
  #classDefault(klass: AddressClass, domain: string): TransportSpec {
    const config = this.#config;
    if (klass === 'virtual_alias')
      return {
        transport: 'error',
        nexthop: '5.1.1 User unknown in virtual alias table',
      };
    const spec = parseTransport(config.get(CLASS_TRANSPORT[klass]));
    if (spec.nexthop) return spec;
    const relayhost = config.get('relayhost').trim();
    const viaRelayhost =
      (klass === 'relay' || klass === 'default') && relayhost;
    return {
      transport: spec.transport,
      nexthop: viaRelayhost ? relayhost : canonicalDomain(domain),
    };
  }

  async #applyTransportMaps(result: Resolved): Promise<void> {
    if (this.#transportMaps.empty) return;
    const value = await this.#findTransport(result.recipient);
    if (value === undefined) return;
    const { transport, nexthop } = parseTransport(value);
    const { domain } = splitAddress(result.recipient);
    // transport(5): an empty nexthop with a transport resets the nexthop
    // to the recipient domain; an empty transport keeps the transport.
    if (transport) {
      result.transport = transport;
      result.nexthop = nexthop || canonicalDomain(domain);
    } else if (nexthop) {
      result.nexthop = nexthop;
    }
  }

  // user+ext@domain, user@domain, domain, .parent..., "*". Only the full
  // address goes to regexp and other pattern tables.
  async #findTransport(recipient: string): Promise<string | undefined> {
    const maps = this.#transportMaps;
    const full = await maps.lookup(recipient);
    if (full !== undefined) return full;
    for (const key of this.#partialKeys(recipient)) {
      const value = await maps.lookup(key, DICT_FLAG.FIXED);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  #partialKeys(recipient: string): string[] {
    const { local, domain } = splitAddress(recipient);
    const keys: string[] = [];
    const delimiters = this.#config.get('recipient_delimiter');
    const ext = splitExtension(local, delimiters);
    if (ext.extension) keys.push(`${ext.base}@${domain}`);
    keys.push(domain);
    const parents = inConfigList(
      this.#config,
      'parent_domain_matches_subdomains',
      'transport_maps',
    );
    for (
      let dot = domain.indexOf('.');
      dot >= 0;
      dot = domain.indexOf('.', dot + 1)
    )
      keys.push(parents ? domain.slice(dot + 1) : domain.slice(dot));
    keys.push('*');
    return keys;
  }
}

const CLASS_TRANSPORT: Record<
  Exclude<AddressClass, 'virtual_alias'>,
  string
> = {
  local: 'local_transport',
  virtual: 'virtual_transport',
  relay: 'relay_transport',
  default: 'default_transport',
};

function classFlags(klass: AddressClass): number {
  return klass === 'relay' || klass === 'default' ? 0 : RESOLVE_FLAG.FINAL;
}

function badSyntax(recipient: string, flags: number): Resolved {
  return {
    transport: 'error',
    nexthop: '5.1.3 bad address syntax',
    recipient,
    class: 'default',
    flags: flags | RESOLVE_FLAG.ERROR | RESOLVE_CLASS.default,
  };
}

function failed(recipient: string): Resolved {
  return {
    transport: '',
    nexthop: '',
    recipient,
    class: 'default',
    flags: RESOLVE_FLAG.FAIL | RESOLVE_CLASS.default,
  };
}

// The addresses that "[addr]" literals may name to reach us: those of
// inet_interfaces ("all" means every interface) and proxy_interfaces.
// XXX host names in these parameters are not resolved to addresses.
function interfaceAddresses(config: TableConfig): Set<string> {
  const own = new Set<string>();
  const items = [
    ...configList(config, 'inet_interfaces'),
    ...configList(config, 'proxy_interfaces'),
  ];
  for (const item of items) {
    const lower = item.toLowerCase();
    if (lower === 'all') allInterfaceAddresses().forEach((a) => own.add(a));
    else if (lower === 'loopback-only')
      ['127.0.0.1', '::1'].forEach((a) => own.add(a));
    else own.add(lower.replace(/^\[|\]$/g, ''));
  }
  return own;
}

function allInterfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(os.networkInterfaces()))
    for (const info of list ?? []) out.push(info.address.toLowerCase());
  return out;
}
