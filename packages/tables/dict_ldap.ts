// ldap:/etc/postfix/x.cf, Postfix's ldap_table(5): a search through
// ldapts on the servers of server_host (ldap://, ldaps://, ldapi://,
// host[:port]), tried in order; one bound connection per table, kept.
// Not done: special/terminal/leaf_result_attribute, SASL binds, LDAPv2
// on the wire (version = 2 is accepted; ldapts speaks LDAPv3).

import * as net from 'node:net';
import * as fs from 'node:fs';
import {
  Client,
  NoSuchObjectError,
  ResultCodeError,
  escapeFilter,
  type SearchOptions,
} from 'ldapts';
import { msg } from '../log/log';
import {
  DbConfig,
  domainFilter,
  expandOne,
  formatResult,
  joinResults,
  parseTemplate,
  splitAddress,
  type DomainFilter,
  type TemplatePart,
} from './dict_db_common';
import { DICT_FLAG, DictError, type Dict, type OpenContext } from './dict';

interface LdapServer {
  label: string;
  url: string;
  host: string; // the name that its certificate must carry
  socketPath?: string; // ldapi://
}

interface LdapSettings {
  servers: LdapServer[];
  base: TemplatePart[];
  filter: TemplatePart[];
  format: TemplatePart[];
  attributes: string[];
  search: SearchOptions;
  bind: boolean;
  bindDn: string;
  bindPw: string;
  timeoutMs: number;
  startTls: boolean;
  tls: { ca?: Buffer; rejectUnauthorized: boolean };
  limit: number;
}

const SCOPES = { sub: 'sub', base: 'base', one: 'one' } as const;
const DEREF = ['never', 'search', 'find', 'always'] as const;

export function openLdap(name: string, ctx: OpenContext): Dict {
  const config = DbConfig.read(name);
  return new LdapDict(name, ldapSettings(config), domainFilter(config, ctx));
}

class LdapDict implements Dict {
  readonly type = 'ldap';
  readonly name: string;
  readonly flags = DICT_FLAG.FIXED;
  #settings: LdapSettings;
  #domain: DomainFilter;
  #client?: Promise<Client>;

  constructor(name: string, settings: LdapSettings, domain: DomainFilter) {
    this.name = name;
    this.#settings = settings;
    this.#domain = domain;
  }

  async lookup(key: string): Promise<string | undefined> {
    if (!(await this.#domain.allows(key))) return undefined;
    const base = expandTemplate(this.#settings.base, key, escapeDnValue);
    const filter = expandTemplate(this.#settings.filter, key, escapeValue);
    if (base === undefined || filter === undefined) return undefined;
    const values = await this.#search(base, filter, key);
    return joinResults(this, this.#settings.limit, key, values);
  }

  close(): void {
    this.#domain.close();
    this.#disconnect();
  }

  async #search(base: string, filter: string, key: string) {
    const { attributes, search, format } = this.#settings;
    const options = { ...search, filter, attributes };
    let entries;
    try {
      entries = await this.#entries(base, options);
    } catch (err) {
      // A base built from the key that does not exist is a miss.
      if (err instanceof NoSuchObjectError && this.#dynamicBase) return [];
      if (err instanceof DictError) throw err;
      throw new DictError(`ldap:${this.name}: search failed: ${text(err)}`);
    }
    const limit = search.sizeLimit ?? 0;
    if (limit > 0 && entries.length >= limit)
      throw new DictError(
        `ldap:${this.name}: size limit exceeded for key: '${key}'`,
      );
    return entryValues(entries, attributes, format, key);
  }

  // A connection that broke while idle is replaced and the search made
  // once more, as Postfix does when the server has gone away.
  async #entries(base: string, options: SearchOptions) {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connection();
      try {
        return (await client.search(base, options)).searchEntries;
      } catch (err) {
        if (err instanceof ResultCodeError) throw err;
        this.#disconnect();
        if (attempt >= 2) throw err;
      }
    }
  }

  get #dynamicBase(): boolean {
    return this.#settings.base.some((part) => part.kind === 'expand');
  }

  // One connection for all lookups of this table; a broken one is
  // dropped and the next lookup connects again, from the first server.
  #connection(): Promise<Client> {
    if (!this.#client) {
      const pending = connectAny(this.name, this.#settings);
      this.#client = pending;
      pending.catch(() => {
        if (this.#client === pending) this.#client = undefined;
      });
    }
    return this.#client.then((client) => {
      if (client.isConnected) return client;
      this.#disconnect();
      return this.#connection();
    });
  }

  #disconnect(): void {
    const pending = this.#client;
    this.#client = undefined;
    void pending?.then((client) => client.unbind()).catch(() => undefined);
  }
}

async function connectAny(name: string, s: LdapSettings): Promise<Client> {
  let why = 'no server_host';
  for (const server of s.servers) {
    const client = newClient(server, s);
    try {
      if (s.startTls) await client.startTLS({ ...s.tls, host: server.host });
      if (s.bind) await client.bind(s.bindDn, s.bindPw);
      else await probe(client);
      return client;
    } catch (err) {
      why = text(err);
      msg.warn(`dict_ldap_connect: connect to ${server.label}: ${why}`);
      void client.unbind().catch(() => undefined);
    }
  }
  throw new DictError(`ldap:${name}: no LDAP server is available: ${why}`);
}

// Without a bind nothing would connect before the first search, and a
// server that is down would not be passed over for the next one.
async function probe(client: Client): Promise<void> {
  try {
    await client.search('', { scope: 'base', attributes: ['1.1'] });
  } catch (err) {
    if (!(err instanceof ResultCodeError)) throw err;
  }
}

function newClient(server: LdapServer, s: LdapSettings): Client {
  const { socketPath } = server;
  return new Client({
    url: server.url,
    timeout: s.timeoutMs,
    connectTimeout: s.timeoutMs,
    ...(server.url.startsWith('ldaps:') && { tlsOptions: s.tls }),
    ...(socketPath && {
      createConnection: (() => net.connect(socketPath)) as typeof net.connect,
    }),
  });
}

// Each requested attribute's values, entry by entry, through
// result_format; attribute names match without regard to case.
function entryValues(
  entries: Record<string, unknown>[],
  attributes: string[],
  format: TemplatePart[],
  key: string,
): string[] {
  const wanted = new Set(attributes.map((name) => name.toLowerCase()));
  const values: string[] = [];
  for (const entry of entries)
    for (const [name, raw] of Object.entries(entry)) {
      if (name === 'dn' || !wanted.has(name.toLowerCase())) continue;
      for (const item of [raw].flat()) {
        const value = formatResult(format, key, String(item));
        if (value !== undefined) values.push(value);
      }
    }
  return values;
}

function expandTemplate(
  parts: TemplatePart[],
  key: string,
  escape: (value: string) => string,
): string | undefined {
  const address = splitAddress(key);
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else {
      const value = expandOne(part.spec, address);
      if (value === undefined) return undefined;
      out += escape(value);
    }
  }
  return out;
}

// RFC 4515 section 3: * ( ) \ and NUL as \XX, by ldapts.
export function escapeValue(value: string): string {
  return escapeFilter`${value}`;
}

// RFC 4514 section 2.4, for keys expanded into search_base.
export function escapeDnValue(value: string): string {
  let out = value.replace(/[\\,+"<>;=\0]/g, (ch) =>
    ch === '\0' ? '\\00' : `\\${ch}`,
  );
  if (/^[ #]/.test(out)) out = `\\${out}`;
  if (/ $/.test(out) && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

// XXX special_result_attribute, terminal_result_attribute,
// leaf_result_attribute, recursion_limit and chase_referrals are read by
// nobody: DN-valued attributes and referrals are not followed.
function ldapSettings(config: DbConfig): LdapSettings {
  checkChoices(config);
  const timeoutMs = config.int('timeout', 10, 1) * 1000;
  return {
    servers: ldapServers(config),
    base: template(config, 'search_base', ''),
    filter: template(config, 'query_filter', '(mailacceptinggeneralid=%s)'),
    format: template(config, 'result_format', '%s'),
    attributes: config.list('result_attribute', 'maildrop'),
    search: searchOptions(config),
    bind: config.str('bind', 'yes').toLowerCase() === 'yes',
    bindDn: config.str('bind_dn'),
    bindPw: config.str('bind_pw'),
    timeoutMs,
    startTls: config.bool('start_tls', false),
    tls: tlsOptions(config),
    limit: config.int('expansion_limit', 0),
  };
}

function template(config: DbConfig, name: string, def: string) {
  return parseTemplate(config, name, config.str(name, def));
}

function searchOptions(config: DbConfig): SearchOptions {
  const scope = config.str('scope', 'sub').toLowerCase();
  return {
    scope: SCOPES[scope as keyof typeof SCOPES],
    // ldapts hides the server's sizeLimitExceeded: one entry more than
    // size_limit shows it (see #search).
    sizeLimit: config.int('size_limit', 0) && config.int('size_limit', 0) + 1,
    timeLimit: config.int('timeout', 10, 1),
    derefAliases: DEREF[config.int('dereference', 0)],
  };
}

// Values that the other settings only read: a bad one is reported with
// its line when the table is opened, not at the first lookup.
function checkChoices(config: DbConfig): void {
  if (!config.has('search_base'))
    config.fail('search_base', 'missing "search_base"');
  const scope = config.str('scope', 'sub').toLowerCase();
  if (!(scope in SCOPES))
    config.fail('scope', `unknown scope: "${scope}" (use sub, base or one)`);
  const bind = config.str('bind', 'yes').toLowerCase();
  // XXX bind = sasl is refused: ldapts has no SASL GSSAPI or DIGEST-MD5.
  if (bind !== 'yes' && bind !== 'no')
    config.fail('bind', `unsupported bind method: "${bind}"`);
  if (config.int('dereference', 0) > 3)
    config.fail('dereference', 'dereference must be 0, 1, 2 or 3');
  const version = config.int('version', 2);
  // XXX version = 2 is taken as 3: ldapts speaks LDAPv3 only.
  if (version !== 2 && version !== 3)
    config.fail('version', `unsupported LDAP version: ${version}`);
}

function tlsOptions(config: DbConfig) {
  const caFile = config.str('tls_ca_cert_file');
  return {
    ca: caFile ? fs.readFileSync(caFile) : undefined,
    rejectUnauthorized: config.bool('tls_require_cert', false),
  };
}

// server_host: host[:port] or URLs, white space or comma separated;
// server_port for the entries that name no port.
function ldapServers(config: DbConfig): LdapServer[] {
  const port = config.int('server_port', 389, 1);
  const hosts = config.list('server_host', 'localhost');
  return hosts.map((host) => ldapServer(config, host, port));
}

export function ldapServer(
  config: DbConfig,
  host: string,
  port: number,
): LdapServer {
  if (host.startsWith('ldapi://')) {
    const socketPath = decodeURIComponent(host.slice('ldapi://'.length));
    const path = socketPath.replace(/\/$/, '') || '/var/run/ldapi';
    const url = 'ldap://localhost';
    return { label: host, url, host: 'localhost', socketPath: path };
  }
  const given = /^ldaps?:\/\//.test(host) ? host : `ldap://${host}`;
  try {
    const parsed = new URL(given);
    if (!parsed.port && !given.startsWith('ldaps:')) parsed.port = String(port);
    const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    const url = `${parsed.protocol}//${parsed.host}`;
    return { label: host, url, host: hostname };
  } catch {
    config.fail('server_host', `bad LDAP server: "${host}"`);
  }
}

function text(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
