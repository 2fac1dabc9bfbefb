// Postfix's domain match lists (mydestination, relay_domains,
// virtual_alias_domains...): names, ".parent" patterns, "/file" with
// more patterns, "type:table" lookups and "!" negation; the first
// pattern that matches decides. Used by resolve.ts and smtpd.
// Known limit: a "/file" is read once, when the list is built.

import * as fs from 'node:fs';
import { DICT_FLAG, Dict, DictOptions, openOrSurrogate } from '../tables/dict';
import { parseDictSpec, splitTableList } from '../tables/dict_parse';
import { canonicalDomain } from './address';
import { msg } from '../log/log';

interface Pattern {
  negate: boolean;
  name?: string; // a host name or ".parent" pattern
  dict?: Dict;
}

export class DomainList {
  readonly title: string;
  #patterns: Pattern[];
  #parentMatches: boolean;

  // parentMatches: the list's name is in parent_domain_matches_subdomains,
  // so "example.com" also matches "sub.example.com".
  constructor(
    title: string,
    value: string,
    parentMatches: boolean,
    options: DictOptions = {},
  ) {
    this.title = title;
    this.#parentMatches = parentMatches;
    this.#patterns = expandItems(splitTableList(value), options);
  }

  get empty(): boolean {
    return this.#patterns.length === 0;
  }

  // Table lookup errors reject, so that the caller can defer.
  async match(domain: string): Promise<boolean> {
    const name = canonicalDomain(domain);
    for (const pattern of this.#patterns) {
      const hit = pattern.dict
        ? await this.#matchTable(pattern.dict, name)
        : this.#matchName(pattern.name ?? '', name);
      if (hit) return !pattern.negate;
    }
    return false;
  }

  #matchName(pattern: string, name: string): boolean {
    const lower = pattern.toLowerCase();
    if (name === lower) return true;
    if (lower.startsWith('.')) return name.endsWith(lower);
    return this.#parentMatches && name.endsWith('.' + lower);
  }

  // The name, then each parent: "b.c" when parents match subdomains,
  // else ".b.c" (Postfix's match_hostname). Patterns see the name only.
  async #matchTable(dict: Dict, name: string): Promise<boolean> {
    if ((await dict.lookup(name)) !== undefined) return true;
    if (!(dict.flags & DICT_FLAG.FIXED)) return false;
    for (let dot = name.indexOf('.'); dot >= 0;) {
      const parent = this.#parentMatches
        ? name.slice(dot + 1)
        : name.slice(dot);
      if (parent && (await dict.lookup(parent)) !== undefined) return true;
      dot = name.indexOf('.', dot + 1);
    }
    return false;
  }
}

function expandItems(items: string[], options: DictOptions): Pattern[] {
  const out: Pattern[] = [];
  for (const item of items) {
    const negate = item.startsWith('!');
    const body = negate ? item.slice(1) : item;
    if (body.startsWith('/')) {
      const inner = expandItems(readListFile(body), options);
      out.push(...inner.map((p) => (negate ? { ...p, negate: !p.negate } : p)));
    } else if (parseDictSpec(body)) {
      out.push({ negate, dict: openOrSurrogate(body, options) });
    } else {
      out.push({ negate, name: body });
    }
  }
  return out;
}

function readListFile(file: string): string[] {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
    return splitTableList(lines.join('\n'));
  } catch (err) {
    msg.warn(`open ${file}: ${(err as Error).message}`);
    return [];
  }
}
