// regexp: and pcre: tables (regexp_table(5), pcre_table(5)): rules
// "/pattern/flags result", "!/pattern/ result", "if /pattern/" ... "endif",
// from a file or inline as regexp:{ {/a/ b}, {/c/ d} }. The first rule
// that matches the whole key gives its result with $1..$9 substituted.
//
// Both run on JavaScript's RegExp. Differences from Postfix:
// - regexp: POSIX ERE semantics are leftmost-longest, RegExp's leftmost-
//   first, so an alternation may capture differently; [[:class:]] names
//   and \< \> are translated; the "x" flag (basic REs) is not supported.
// - pcre: no possessive quantifiers, atomic groups, recursion, \G, or
//   inline (?i) at the start; the U (ungreedy) and X flags are refused;
//   "$" matches only at the very end, as with PCRE's E flag.

import type { Dict } from './dict';
import { DICT_FLAG } from './dict';
import { readSourceFile, SourceLine } from './dict_source';
import { reloading } from './dict_file';
import { splitBracedList } from './dict_parse';
import { msg } from '../log/log';

type Flavor = 'regexp' | 'pcre';

interface Rule {
  kind: 'match' | 'if' | 'endif';
  regex?: RegExp;
  negate: boolean;
  result: string;
  end: number; // for 'if': index of its endif
}

export function openRegexp(name: string): Dict {
  return openPatternTable('regexp', name);
}

export function openPcre(name: string): Dict {
  return openPatternTable('pcre', name);
}

// A file is parsed again when it changes; an inline table never does.
function openPatternTable(flavor: Flavor, name: string): Dict {
  const load = () => loadRules(flavor, name, sourceLines(name));
  const rules = isInline(name) ? constant(load()) : reloading(name, load);
  return {
    type: flavor,
    name,
    flags: DICT_FLAG.PATTERN,
    lookup: async (key) => evaluate(rules(), key),
    close: () => undefined,
  };
}

function isInline(name: string): boolean {
  return name.trim().startsWith('{');
}

function constant<T>(value: T): () => T {
  return () => value;
}

function sourceLines(name: string): SourceLine[] {
  if (!isInline(name)) return readSourceFile(name);
  return splitBracedList(name).map((text, i) => ({ lineNo: i + 1, text }));
}

export function evaluate(rules: Rule[], key: string): string | undefined {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (rule.kind === 'endif') continue;
    const match = rule.regex!.exec(key);
    if (rule.kind === 'if') {
      if (!match === !rule.negate) i = rule.end;
      continue;
    }
    if (rule.negate && !match) return rule.result;
    if (!rule.negate && match) return substitute(rule.result, match);
  }
  return undefined;
}

// $1, ${1}, $(1) and $$, as Postfix's mac_parse applies them.
function substitute(result: string, match: RegExpExecArray): string {
  return result.replace(
    /\$(?:(\d+)|\{(\d+)\}|\((\d+)\)|(\$))/g,
    (_all, a, b, c, dollar) =>
      dollar ? '$' : (match[Number(a ?? b ?? c)] ?? ''),
  );
}

function loadRules(flavor: Flavor, name: string, lines: SourceLine[]): Rule[] {
  const rules: Rule[] = [];
  const open: number[] = [];
  for (const line of lines) {
    const where = `${flavor} map ${name}, line ${line.lineNo}`;
    const rule = parseRule(flavor, line.text, where);
    if (!rule) continue;
    if (rule.kind === 'endif') {
      const start = open.pop();
      if (start === undefined) {
        msg.warn(`${where}: ignoring ENDIF without matching IF`);
        continue;
      }
      rules[start].end = rules.length;
    }
    if (rule.kind === 'if') open.push(rules.length);
    rules.push(rule);
  }
  for (const start of open) {
    msg.warn(`${flavor} map ${name}: IF has no matching ENDIF`);
    rules[start].end = rules.length;
  }
  return rules;
}

function parseRule(
  flavor: Flavor,
  text: string,
  where: string,
): Rule | undefined {
  const trimmed = text.trim();
  if (/^endif$/i.test(trimmed))
    return { kind: 'endif', negate: false, result: '', end: 0 };
  const isIf = /^if\s/i.test(trimmed);
  const body = isIf ? trimmed.slice(2).trim() : trimmed;
  const parsed = parsePattern(body);
  if (!parsed) {
    msg.warn(`${where}: ignoring unrecognized request`);
    return undefined;
  }
  const regex = compile(flavor, parsed.pattern, parsed.flags, where);
  if (!regex) return undefined;
  return checkResult(isIf, parsed.negate, parsed.rest, regex, where);
}

function checkResult(
  isIf: boolean,
  negate: boolean,
  rest: string,
  regex: RegExp,
  where: string,
): Rule | undefined {
  if (isIf) {
    if (rest) msg.warn(`${where}: ignoring extra text after IF`);
    return { kind: 'if', regex, negate, result: '', end: 0 };
  }
  if (!rest) {
    msg.warn(`${where}: no replacement text: using empty string`);
  }
  if (negate && /\$\d|\$\{\d|\$\(\d/.test(rest)) {
    msg.warn(`${where}: $number found in negative match replacement text`);
    return undefined;
  }
  return { kind: 'match', regex, negate, result: rest, end: 0 };
}

// "!" then a delimiter (any character but white space and backslash), the
// pattern up to the next unescaped delimiter, then flag letters.
function parsePattern(
  text: string,
):
  | { negate: boolean; pattern: string; flags: string; rest: string }
  | undefined {
  const negate = text.startsWith('!');
  const body = negate ? text.slice(1).trimStart() : text;
  const delim = body[0];
  if (!delim || /[\s\\]/.test(delim)) return undefined;
  let i = 1;
  for (; i < body.length && body[i] !== delim; i++) if (body[i] === '\\') i++;
  if (i >= body.length) return undefined;
  const pattern = body.slice(1, i);
  const flagMatch = /^[A-Za-z]*/.exec(body.slice(i + 1))!;
  const rest = body.slice(i + 1 + flagMatch[0].length);
  if (rest && !/^\s/.test(rest)) return undefined;
  return { negate, pattern, flags: flagMatch[0], rest: rest.trim() };
}

function compile(
  flavor: Flavor,
  pattern: string,
  flags: string,
  where: string,
): RegExp | undefined {
  try {
    const options =
      flavor === 'pcre' ? pcreOptions(flags) : regexpOptions(flags);
    const source =
      flavor === 'pcre' ? pcreSource(pattern, options) : ereSource(pattern);
    return new RegExp(source, options.js);
  } catch (err) {
    msg.warn(
      `${where}: error compiling ${flavor} pattern "${pattern}": ${(err as Error).message}`,
    );
    return undefined;
  }
}

interface Options {
  js: string;
  extended: boolean;
  anchored: boolean;
}

// Flags toggle Postfix's defaults: case-insensitive on, multi-line off.
function regexpOptions(flags: string): Options {
  let icase = true;
  let multi = false;
  for (const flag of flags) {
    if (flag === 'i') icase = !icase;
    else if (flag === 'm') multi = !multi;
    else if (flag === 'x')
      throw new Error('basic regular expressions (flag x) are not supported');
    else throw new Error(`unknown regexp option "${flag}"`);
  }
  return {
    js: (icase ? 'i' : '') + (multi ? 'm' : ''),
    extended: false,
    anchored: false,
  };
}

function pcreOptions(flags: string): Options {
  const on = { i: true, m: false, s: false, x: false, A: false };
  for (const flag of flags) {
    if (flag in on) on[flag as keyof typeof on] = !on[flag as keyof typeof on];
    else if (flag === 'E')
      continue; // JavaScript's "$" already behaves so
    else throw new Error(`unsupported pcre option "${flag}"`);
  }
  const js = (on.i ? 'i' : '') + (on.m ? 'm' : '') + (on.s ? 's' : '');
  return { js, extended: on.x, anchored: on.A };
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: 'A-Za-z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: '\\s',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  cntrl: '\\x00-\\x1f\\x7f',
  print: '\\x20-\\x7e',
  graph: '\\x21-\\x7e',
};

function ereSource(pattern: string): string {
  return pattern
    .replace(/\[:([a-z]+):\]/g, (all, name) => POSIX_CLASSES[name] ?? all)
    .replace(/\\[<>]/g, '\\b');
}

function pcreSource(pattern: string, options: Options): string {
  let source = pattern
    .replace(/\(\?P</g, '(?<')
    .replace(/\\A/g, '^')
    .replace(/\\[zZ]/g, '$');
  if (options.extended) source = stripExtended(source);
  return options.anchored ? `^(?:${source})` : source;
}

// PCRE's x flag: white space and "#" comments outside classes are not
// part of the pattern.
function stripExtended(source: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') {
      out += ch + (source[++i] ?? '');
      continue;
    }
    if (ch === '[') inClass = true;
    else if (ch === ']') inClass = false;
    if (!inClass && /\s/.test(ch)) continue;
    if (!inClass && ch === '#') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    out += ch;
  }
  return out;
}
