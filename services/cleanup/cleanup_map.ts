// Address lookups as canonical(5) and virtual(5) describe them: the
// full address, the bare user for our own domains, then @domain, each
// first with its recipient_delimiter extension; an unmatched extension
// is put back per propagate_unmatched_extensions. Used by
// cleanup_rewrite.ts; pattern tables (regexp, pcre) see the full address.

import { DICT_FLAG, Maps, type TableConfig } from '../../packages/tables/dict';
import {
  canonicalDomain,
  joinAddress,
  splitAddress,
  splitExtension,
} from '../../packages/address/address';
import { DomainList } from '../../packages/address/domain_list';
import { inConfigList } from '../../packages/address/config_values';

export const MAP_CLASS = {
  CANONICAL: 'canonical',
  VIRTUAL: 'virtual',
} as const;
export type MapClass = (typeof MAP_CLASS)[keyof typeof MAP_CLASS];

interface LookupKey {
  key: string;
  partial: boolean; // a partial key: fixed-case tables only
  extension: string; // the extension the key left out, if any
}

// Our own domains for the bare "user" key: $myorigin, $mydestination,
// $inet_interfaces and $proxy_interfaces as [addr] literals or names.
export class LocalDomains {
  #config: TableConfig;
  #mydestination: DomainList;

  constructor(config: TableConfig) {
    this.#config = config;
    const parents = inConfigList(
      config,
      'parent_domain_matches_subdomains',
      'mydestination',
    );
    this.#mydestination = new DomainList(
      'mydestination',
      config.get('mydestination'),
      parents,
      { config },
    );
  }

  async match(domain: string): Promise<boolean> {
    const name = canonicalDomain(domain);
    if (name === '') return true;
    if (name === canonicalDomain(this.#config.get('myorigin'))) return true;
    if (this.#interfaceLiteral(name)) return true;
    return this.#mydestination.match(name);
  }

  #interfaceLiteral(name: string): boolean {
    const m = /^\[(?:ipv6:)?([^\]]+)\]$/.exec(name);
    if (!m) return false;
    const own = ['inet_interfaces', 'proxy_interfaces']
      .flatMap((p) => this.#config.get(p).split(/[\s,]+/))
      .map((a) => a.toLowerCase());
    return own.includes(m[1]);
  }
}

function lookupKeys(
  address: string,
  delimiters: string,
  isLocal: boolean,
): LookupKey[] {
  const { local, domain } = splitAddress(address);
  const ext = splitExtension(local, delimiters);
  const keys: LookupKey[] = [{ key: address, partial: false, extension: '' }];
  const base = ext.extension ? ext.base : '';
  if (base && domain)
    keys.push({
      key: joinAddress(base, domain),
      partial: true,
      extension: ext.delimiter + ext.extension,
    });
  if (isLocal && domain) {
    keys.push({ key: local, partial: true, extension: '' });
    if (base)
      keys.push({
        key: base,
        partial: true,
        extension: ext.delimiter + ext.extension,
      });
  }
  if (domain) keys.push({ key: `@${domain}`, partial: true, extension: '' });
  return keys;
}

// One result of a table: a comma-separated list for virtual, one
// address for canonical. "@other" keeps the user (mail_addr_map).
function expandResult(value: string, local: string, ext: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => (item.startsWith('@') ? local + item : item))
    .map((item) => (ext ? addExtension(item, ext) : item));
}

function addExtension(address: string, ext: string): string {
  const { local, domain } = splitAddress(address);
  if (!address.includes('@')) return local + ext;
  return joinAddress(local + ext, domain);
}

// Look one address up; undefined when no table has it. Throws
// DictError when a table fails, so that the caller defers.
export class AddressMap {
  readonly maps: Maps;
  #config: TableConfig;
  #locals: LocalDomains;
  #class: MapClass;

  constructor(
    maps: Maps,
    config: TableConfig,
    locals: LocalDomains,
    klass: MapClass,
  ) {
    this.maps = maps;
    this.#config = config;
    this.#locals = locals;
    this.#class = klass;
  }

  get empty(): boolean {
    return this.maps.empty;
  }

  async find(address: string): Promise<string[] | undefined> {
    if (this.maps.empty || address === '') return undefined;
    const { local, domain } = splitAddress(address);
    const isLocal = address.includes('@') && (await this.#locals.match(domain));
    const delimiters = this.#config.get('recipient_delimiter');
    const keep = inConfigList(
      this.#config,
      'propagate_unmatched_extensions',
      this.#class,
    );
    for (const k of lookupKeys(address, delimiters, isLocal)) {
      const flags = k.partial ? DICT_FLAG.FIXED : 0;
      const value = await this.maps.lookup(k.key, flags);
      if (value === undefined) continue;
      const base = k.extension ? local.slice(0, -k.extension.length) : local;
      return expandResult(value, base, keep ? k.extension : '');
    }
    return undefined;
  }
}
