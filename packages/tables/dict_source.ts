// Reads the source text of file tables (texthash, postmap and postalias
// input, regexp/pcre/cidr rules) into logical lines as Postfix does:
// "#" comment lines and blank lines skipped, a line that starts with
// white space continues the previous one. Keys may be "quoted".

import * as fs from 'node:fs';

export interface SourceLine {
  lineNo: number; // first physical line of this logical line
  text: string;
}

export interface SourceEntry {
  lineNo: number;
  key: string;
  value: string;
}

export function readSourceFile(file: string): SourceLine[] {
  return splitLogicalLines(fs.readFileSync(file, 'utf8'));
}

export function splitLogicalLines(text: string): SourceLine[] {
  const out: SourceLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (/^\s*(#|$)/.test(line)) continue;
    const last = out[out.length - 1];
    if (/^\s/.test(line) && last) last.text += ' ' + line.trim();
    else out.push({ lineNo: i + 1, text: line.trimEnd() });
  }
  return out;
}

// A key that starts with a double quote runs to the closing quote, with
// backslash escaping the next character (Postfix 3.2 and later).
export function splitKey(
  text: string,
  stop: RegExp,
): { key: string; rest: string } | undefined {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('"')) {
    const match = stop.exec(trimmed);
    if (!match) return { key: trimmed, rest: '' };
    return {
      key: trimmed.slice(0, match.index),
      rest: trimmed.slice(match.index),
    };
  }
  return splitQuotedKey(trimmed);
}

function splitQuotedKey(
  text: string,
): { key: string; rest: string } | undefined {
  let key = '';
  for (let i = 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') return { key, rest: text.slice(i + 1) };
    if (ch === '\\' && i + 1 < text.length) key += text[++i];
    else key += ch;
  }
  return undefined;
}

// postmap's "key whitespace value". undefined when the value is missing.
export function parseMapLine(line: SourceLine): SourceEntry | undefined {
  const split = splitKey(line.text, /\s/);
  if (!split || !split.key) return undefined;
  const value = split.rest.trim();
  if (!value) return undefined;
  return { lineNo: line.lineNo, key: split.key, value };
}

// postalias's "name: value, value". undefined without the colon.
export function parseAliasLine(line: SourceLine): SourceEntry | undefined {
  const split = splitKey(line.text, /:/);
  if (!split) return undefined;
  const rest = split.rest.trimStart();
  if (!rest.startsWith(':')) return undefined;
  const key = split.key.trim();
  const value = rest.slice(1).trim();
  if (!key || !value) return undefined;
  return { lineNo: line.lineNo, key, value };
}

// postalias stores a value the way Postfix's RFC 822 tokenizer writes it
// back: list elements trimmed and joined with ", " ("a,b" and "a , b"
// become "a, b"; a trailing comma leaves "a, "). Commas inside quotes,
// <> and comments do not split.
// XXX the rest of that rewriting (such as "group: a" becoming "group:a")
// is not done: values are otherwise stored as written.
export function normalizeAliasValue(value: string): string {
  return splitTopLevel(value, ',')
    .map((part) => part.trim())
    .join(', ');
}

function splitTopLevel(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '<' || ch === '(')) depth++;
    else if (!quoted && (ch === '>' || ch === ')') && depth > 0) depth--;
    else if (!quoted && depth === 0 && ch === sep) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}
