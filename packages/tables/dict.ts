// Lookup tables behind one interface, as Postfix's dict_open/maps_find.
//
//   const dict = dictOpen('texthash:/etc/postfix/transport');
//   await dict.lookup('example.com');     // string | undefined
//   const maps = new Maps(config.get('transport_maps'), config);
//   await maps.lookup('user@example.com'); // first table that has it
//   await maps.lookup('example.com', DICT_FLAG.FIXED); // skip patterns
//
// dictOpen() is synchronous and cached per spec; a failed lookup rejects
// with DictError (callers defer, as Postfix does on DICT_ERR_RETRY).
// Maps never throws at construction: a table that cannot be opened
// becomes a surrogate whose lookups fail, so a daemon defers rather than
// crashes. Fixed-case tables lower-case the key unless fold is false.

import { msg } from '../log/log';
import { DictSyntaxError, parseDictSpec, splitTableList } from './dict_parse';
import { openCidr } from './dict_cidr';
import { openEnviron } from './dict_environ';
import { indexedOpener } from './dict_indexed';
import { openInline } from './dict_inline';
import { openProxy } from './dict_proxy';
import { openPcre, openRegexp } from './dict_regexp';
import { openStatic } from './dict_static';
import { openTexthash } from './dict_texthash';
import { openPipe, openUnion } from './dict_union';
import { openUnix } from './dict_unix';

export const DICT_FLAG = {
  FIXED: 1, // exact-match keys: gets partial keys, folded to lower case
  PATTERN: 2, // regexp, pcre, cidr: only full keys
} as const;

export interface Dict {
  readonly type: string;
  readonly name: string;
  readonly flags: number;
  lookup(key: string): Promise<string | undefined>;
  close(): void;
}

// The part of Config that tables read; Config from packages/config fits.
export interface TableConfig {
  get(name: string): string;
}

export interface DictOptions {
  fold?: boolean; // lower-case keys of fixed-case tables; default true
  config?: TableConfig;
}

export interface OpenContext extends DictOptions {
  open: (spec: string, options?: DictOptions) => Dict;
}

export type DictOpener = (name: string, ctx: OpenContext) => Dict;

export class DictError extends Error {}
// A table that could not be opened (Postfix's DICT_ERR_CONFIG): callers
// that tell the two apart answer "Server configuration error".
export class DictConfigError extends DictError {}

// Each opener is called through a function so that a table module that
// is loaded before this one (and imports it) is found complete.
const OPENERS: Record<string, DictOpener> = {
  btree: (name, ctx) => indexedOpener('btree')(name, ctx),
  cdb: (name, ctx) => indexedOpener('cdb')(name, ctx),
  cidr: (name) => openCidr(name),
  environ: (name) => openEnviron(name),
  hash: (name, ctx) => indexedOpener('hash')(name, ctx),
  lmdb: (name, ctx) => indexedOpener('lmdb')(name, ctx),
  inline: (name, ctx) => openInline(name, ctx),
  ldap: (name, ctx) => lazyOpener('./dict_ldap', 'openLdap')(name, ctx),
  pcre: (name) => openPcre(name),
  pgsql: (name, ctx) => lazyOpener('./dict_pgsql', 'openPgsql')(name, ctx),
  pipemap: (name, ctx) => openPipe(name, ctx),
  proxy: (name, ctx) => openProxy(name, ctx),
  regexp: (name) => openRegexp(name),
  static: (name) => openStatic(name),
  texthash: (name, ctx) => openTexthash(name, ctx),
  unionmap: (name, ctx) => openUnion(name, ctx),
  unix: (name) => openUnix(name),
};

// Client tables load their driver (pg, ldapts) only when a table of
// that type is opened, so that daemons without one do not pay for it.
function lazyOpener(file: string, name: string): DictOpener {
  return (require(file) as Record<string, DictOpener>)[name];
}

const DRIVER_FILES: Record<string, string> = {
  ldap: './dict_ldap',
  pgsql: './dict_pgsql',
};

// A daemon loads the drivers its settings name before it drops its
// privileges: code in a folder that only root may read (a clone in a
// 0700 folder) cannot be loaded after, and Postfix too opens what it
// needs first. Any setting that mentions "pgsql:" or "ldap:" counts.
export function preloadDrivers(config: {
  mainCfNames(): string[];
  overrideNames(): string[];
  raw(name: string): string | undefined;
}): void {
  const names = new Set([...config.mainCfNames(), ...config.overrideNames()]);
  const text = [...names].map((n) => config.raw(n) ?? '').join('\n');
  for (const [type, file] of Object.entries(DRIVER_FILES))
    if (text.includes(`${type}:`)) require(file);
}

// The types dictOpen knows, for postconf -m.
export function dictTypes(): string[] {
  return Object.keys(OPENERS).sort();
}

// Table types that live outside packages/tables (SQL, LDAP clients) add
// themselves here, so that this package need not depend on them.
export function registerDictType(type: string, opener: DictOpener): void {
  OPENERS[type] = opener;
}

interface CacheEntry {
  dict: Dict;
  refs: number;
}

const cache = new Map<string, CacheEntry>();

export function dictOpen(spec: string, options: DictOptions = {}): Dict {
  const fold = options.fold ?? true;
  const cacheKey = `${fold ? 'f' : 'n'}:${spec.trim()}`;
  let entry = cache.get(cacheKey);
  if (!entry) {
    entry = { dict: openUncached(spec, { ...options, fold }), refs: 0 };
    cache.set(cacheKey, entry);
  }
  entry.refs++;
  return sharedHandle(cacheKey, entry);
}

// Each opener gets its own handle; the table closes with the last one.
function sharedHandle(cacheKey: string, entry: CacheEntry): Dict {
  const { dict } = entry;
  let open = true;
  return {
    type: dict.type,
    name: dict.name,
    flags: dict.flags,
    lookup: (key) => dict.lookup(key).catch((err) => failure(dict, err)),
    close: () => {
      if (!open) return;
      open = false;
      if (--entry.refs > 0) return;
      cache.delete(cacheKey);
      dict.close();
    },
  };
}

// Any lookup failure reaches callers as DictError, so that they defer
// on it and treat every other exception as a bug.
function failure(dict: Dict, err: unknown): never {
  if (err instanceof DictError) throw err;
  const why = err instanceof Error ? err.message : String(err);
  throw new DictError(`${dict.type}:${dict.name}: lookup error: ${why}`);
}

function openUncached(spec: string, options: DictOptions): Dict {
  const parsed = parseDictSpec(spec);
  if (!parsed)
    throw new DictError(`open ${spec.trim()}: need "type:name" form`);
  const opener = OPENERS[parsed.type];
  if (!opener)
    throw new DictError(`unsupported dictionary type: ${parsed.type}`);
  const ctx: OpenContext = { ...options, open: dictOpen };
  try {
    return withFolding(opener(parsed.name, ctx), options.fold !== false);
  } catch (err) {
    if (err instanceof DictError) throw err;
    if (err instanceof DictSyntaxError)
      throw new DictError(`open ${parsed.type}:${parsed.name}: ${err.message}`);
    throw new DictError(fileErrorText(parsed.name, err));
  }
}

// Postfix's wording for a file it cannot open: "open /x: No such file or
// directory", from the errno the system call gave.
export function fileErrorText(file: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const reason = e.code ? (ERRNO_TEXT[e.code] ?? e.code) : String(e.message);
  return `open ${file}: ${reason}`;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EEXIST: 'File exists',
  EROFS: 'Read-only file system',
};

function withFolding(dict: Dict, fold: boolean): Dict {
  if (!fold || !(dict.flags & DICT_FLAG.FIXED)) return dict;
  return {
    type: dict.type,
    name: dict.name,
    flags: dict.flags,
    lookup: (key) => dict.lookup(key.toLowerCase()),
    close: () => dict.close(),
  };
}

// Stands in for a table that could not be opened: every lookup fails,
// so the caller defers the mail instead of losing it (dict_surrogate).
function surrogate(spec: string, reason: string): Dict {
  const parsed = parseDictSpec(spec) ?? { type: 'unknown', name: spec };
  return {
    type: parsed.type,
    name: parsed.name,
    flags: DICT_FLAG.FIXED,
    lookup: () => Promise.reject(new DictConfigError(reason)),
    close: () => undefined,
  };
}

// A parameter's list of tables, searched in order; the first table that
// has the key gives the value (maps_find).
export class Maps {
  readonly title: string;
  #dicts: Dict[];

  constructor(
    value: string | string[],
    config?: TableConfig,
    options: DictOptions = {},
    title = '',
  ) {
    const opts = { ...options, config: options.config ?? config };
    const text = typeof value === 'string' ? value : value.join(', ');
    this.title = title || text.trim();
    this.#dicts = openAll(value, opts);
  }

  get dicts(): readonly Dict[] {
    return this.#dicts;
  }

  get empty(): boolean {
    return this.#dicts.length === 0;
  }

  // flags: only tables with one of these flags are searched, as for
  // Postfix's partial keys (DICT_FLAG.FIXED skips regexp and cidr).
  async lookup(key: string, flags = 0): Promise<string | undefined> {
    if (key === '') return undefined;
    for (const dict of this.#dicts) {
      if (flags !== 0 && (dict.flags & flags) === 0) continue;
      const value = await lookupOne(dict, key);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  close(): void {
    for (const dict of this.#dicts) dict.close();
    this.#dicts = [];
  }
}

async function lookupOne(dict: Dict, key: string): Promise<string | undefined> {
  try {
    return await dict.lookup(key);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const text = `${dict.type}:${dict.name} lookup error for "${key}": ${why}`;
    if (err instanceof DictConfigError) throw new DictConfigError(text);
    throw new DictError(text);
  }
}

function openAll(value: string | string[], options: DictOptions): Dict[] {
  let specs: string[];
  try {
    specs = typeof value === 'string' ? splitTableList(value) : value;
  } catch (err) {
    const why = `open ${value}: ${(err as Error).message}`;
    msg.warn(why);
    return [surrogate(String(value), why)];
  }
  return specs.map((spec) => openOrSurrogate(spec, options));
}

// dictOpen for daemons: a table that cannot be opened is logged and
// replaced by one whose lookups fail, so that mail is deferred.
export function openOrSurrogate(spec: string, options: DictOptions): Dict {
  try {
    return dictOpen(spec, options);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    msg.warn(why);
    return surrogate(spec, why);
  }
}
