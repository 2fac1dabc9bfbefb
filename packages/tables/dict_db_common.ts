// What pgsql: and ldap: tables share, as Postfix's db_common and
// cfg_parser: the .cf file in main.cf syntax, the %s %u %d %[SUD1-9]
// templates of queries and result_format, the domain filter and the
// expansion limit. Used by dict_pgsql.ts and dict_ldap.ts.

import * as fs from 'node:fs';
import { ConfigError, parseMainCf, type Definition } from '../config/main_cf';
import { DictError, fileErrorText } from './dict';
import type { Dict, OpenContext } from './dict';
import { DictSyntaxError, splitTableList } from './dict_parse';

// A .cf file: name = value lines; values are not $expanded (cfg_parser).
export class DbConfig {
  readonly file: string;
  #defs: Map<string, Definition>;

  constructor(file: string, text: string) {
    this.file = file;
    try {
      this.#defs = parseMainCf(text, file);
    } catch (err) {
      if (err instanceof ConfigError) throw new DictSyntaxError(err.message);
      throw err;
    }
  }

  static read(file: string): DbConfig {
    // XXX Postfix takes a name without "/" or "." in front as a prefix of
    // main.cf parameters (pgsql:x reads x_hosts...); we read files only.
    if (!/^[/.]/.test(file))
      throw new DictSyntaxError(
        'need a configuration file path that starts with "/" or "."; ' +
          'parameters in main.cf are not supported',
      );
    return new DbConfig(file, fs.readFileSync(file, 'utf8'));
  }

  has(name: string): boolean {
    return this.#defs.has(name);
  }

  str(name: string, def = ''): string {
    return this.#defs.get(name)?.value ?? def;
  }

  list(name: string, def = ''): string[] {
    return this.str(name, def)
      .split(/[\s,]+/)
      .filter((item) => item !== '');
  }

  int(name: string, def: number, min = 0): number {
    const text = this.str(name, String(def));
    const value = /^\d+$/.test(text) ? Number(text) : NaN;
    if (Number.isNaN(value) || value < min)
      this.fail(name, `bad numerical configuration: ${name} = ${text}`);
    return value;
  }

  bool(name: string, def: boolean): boolean {
    const text = this.str(name, def ? 'yes' : 'no').toLowerCase();
    if (text === 'yes') return true;
    if (text === 'no') return false;
    this.fail(name, `bad boolean configuration: ${name} = ${text}`);
  }

  // Problems with a value name the line that set it, as main.cf's do.
  fail(name: string, why: string): never {
    const line = this.#defs.get(name)?.line;
    const where = line ? `${this.file}, line ${line}` : this.file;
    throw new DictSyntaxError(`${where}: ${why}`);
  }
}

// One piece of a parsed template: text as is, or a %x specifier.
export type TemplatePart =
  { kind: 'text'; text: string } | { kind: 'expand'; spec: string };

const SPECIFIERS = /^[sudSUD1-9]$/;

// Splits "%s", "%u" ... out of a template; "%%" is a percent sign. A
// bad specifier is an error naming the parameter's line.
export function parseTemplate(
  config: DbConfig,
  name: string,
  text: string,
): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '%') {
      literal += text[i];
      continue;
    }
    const spec = text[++i] ?? '';
    if (spec === '%') literal += '%';
    else if (SPECIFIERS.test(spec)) {
      if (literal) parts.push({ kind: 'text', text: literal });
      literal = '';
      parts.push({ kind: 'expand', spec });
    } else config.fail(name, `invalid ${name} template: "%${spec}"`);
  }
  if (literal) parts.push({ kind: 'text', text: literal });
  return parts;
}

// An address split as the templates see it: the last "@" divides.
export interface Address {
  whole: string;
  local: string;
  domain: string | undefined; // undefined: not qualified
}

export function splitAddress(text: string): Address {
  const at = text.lastIndexOf('@');
  if (at < 0) return { whole: text, local: text, domain: undefined };
  return { whole: text, local: text.slice(0, at), domain: text.slice(at + 1) };
}

// %1 is the last label of the key's domain, %2 the one before it...
function domainLabel(key: Address, n: number): string | undefined {
  if (!key.domain) return undefined;
  const labels = key.domain.split('.').reverse();
  const label = labels[n - 1];
  return label ? label : undefined;
}

// The value of one specifier, or undefined when the query (or this
// result) must be skipped: %u of "@domain", %d of an unqualified key,
// %3 of a key with two labels.
export function expandOne(
  spec: string,
  key: Address,
  value: Address = key,
): string | undefined {
  if (/^[1-9]$/.test(spec)) return domainLabel(key, Number(spec));
  const from = spec === spec.toUpperCase() ? key : value;
  switch (spec.toLowerCase()) {
    case 's':
      return from.whole;
    case 'u':
      return from.local === '' ? undefined : from.local;
    default:
      return from.domain ? from.domain : undefined;
  }
}

// result_format applied to one value of a row or an entry; undefined
// means the value is left out, as an empty one is.
export function formatResult(
  parts: TemplatePart[],
  key: string,
  value: string,
): string | undefined {
  if (value === '') return undefined;
  const keyAddr = splitAddress(key);
  const valueAddr = splitAddress(value);
  let out = '';
  for (const part of parts) {
    if (part.kind === 'text') out += part.text;
    else {
      const text = expandOne(part.spec, keyAddr, valueAddr);
      if (text === undefined) return undefined;
      out += text;
    }
  }
  return out;
}

// Joins the formatted values with commas, as Postfix, and fails the
// lookup (a deferral, not a bounce) past expansion_limit.
export function joinResults(
  dict: { type: string; name: string },
  limit: number,
  key: string,
  values: string[],
): string | undefined {
  if (limit > 0 && values.length > limit)
    throw new DictError(
      `${dict.type}:${dict.name}: expansion limit exceeded for key: '${key}'`,
    );
  return values.length ? values.join(',') : undefined;
}

// The "domain" parameter: with it, only user@domain keys whose domain is
// listed are queried. Entries are names, /file/name (names inside, "#"
// comments) or type:table; names match without regard to case.
export class DomainFilter {
  #names = new Set<string>();
  #tables: Dict[] = [];

  constructor(items: string[], ctx: OpenContext) {
    for (const item of items) {
      if (/^[a-z0-9]+:/i.test(item)) this.#tables.push(ctx.open(item, ctx));
      else if (item.startsWith('/')) this.#addFile(item);
      else this.#names.add(item.toLowerCase());
    }
  }

  #addFile(file: string): void {
    const text = fs.readFileSync(file, 'utf8').replace(/#.*$/gm, '');
    for (const name of text.split(/[\s,]+/))
      if (name) this.#names.add(name.toLowerCase());
  }

  get empty(): boolean {
    return this.#names.size === 0 && this.#tables.length === 0;
  }

  async allows(key: string): Promise<boolean> {
    if (this.empty) return true;
    const { local, domain } = splitAddress(key);
    if (local === '' || !domain) return false;
    const name = domain.toLowerCase();
    if (this.#names.has(name)) return true;
    for (const table of this.#tables)
      if ((await table.lookup(name)) !== undefined) return true;
    return false;
  }

  close(): void {
    for (const table of this.#tables) table.close();
  }
}

export function domainFilter(config: DbConfig, ctx: OpenContext) {
  try {
    return new DomainFilter(splitTableList(config.str('domain')), ctx);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code ? fileErrorText(e.path ?? '', e) : e.message;
    config.fail('domain', why);
  }
}
