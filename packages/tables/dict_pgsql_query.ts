// The query of a pgsql: table turned into a parameterised statement:
// each %s %u %d %[SUD1-9] becomes a $n parameter, so that no key reaches
// the SQL text. '%s' alone is $n; 'x%sy' is ('x' || $n::text || 'y');
// inside "identifiers" the value is quoted with pg's escapeIdentifier.
// Used by dict_pgsql.ts. Known limit: $$dollar quotes$$ and comments.

import { escapeIdentifier } from 'pg';
import {
  expandOne,
  parseTemplate,
  splitAddress,
  type Address,
  type DbConfig,
  type TemplatePart,
} from './dict_db_common';

export type SqlPiece =
  | { kind: 'sql'; text: string }
  | { kind: 'param'; spec: string; typed: boolean }
  | { kind: 'ident'; parts: TemplatePart[] };

interface Segment {
  kind: 'code' | 'string' | 'ident';
  raw: string; // between the quotes for string and ident
  prefix: string; // "E" of E'...'
}

export interface BoundQuery {
  text: string;
  values: string[];
}

export function compileQuery(config: DbConfig, query: string): SqlPiece[] {
  const pieces: SqlPiece[] = [];
  for (const segment of scanSql(config, query)) {
    const parts = parseTemplate(config, 'query', segment.raw);
    pieces.push(...segmentPieces(segment, parts));
  }
  return pieces;
}

function segmentPieces(seg: Segment, parts: TemplatePart[]): SqlPiece[] {
  const hasExpansion = parts.some((part) => part.kind === 'expand');
  if (seg.kind === 'ident')
    return hasExpansion
      ? [{ kind: 'ident', parts }]
      : [{ kind: 'sql', text: `"${textOf(parts)}"` }];
  if (seg.kind === 'code') return parts.map((part) => codePiece(part));
  if (!hasExpansion)
    return [{ kind: 'sql', text: `${seg.prefix}'${textOf(parts)}'` }];
  if (parts.length === 1) return [codePiece(parts[0])];
  return concatenation(seg.prefix, parts);
}

function textOf(parts: TemplatePart[]): string {
  return parts.map((part) => (part.kind === 'text' ? part.text : '')).join('');
}

function codePiece(part: TemplatePart): SqlPiece {
  if (part.kind === 'text') return { kind: 'sql', text: part.text };
  return { kind: 'param', spec: part.spec, typed: false };
}

// 'a%sb' as ('a' || $1::text || 'b'): the cast lets PostgreSQL type
// the parameter, which || alone does not.
function concatenation(prefix: string, parts: TemplatePart[]): SqlPiece[] {
  const out: SqlPiece[] = [{ kind: 'sql', text: '(' }];
  parts.forEach((part, i) => {
    if (i > 0) out.push({ kind: 'sql', text: ' || ' });
    if (part.kind === 'text')
      out.push({ kind: 'sql', text: `${prefix}'${part.text}'` });
    else out.push({ kind: 'param', spec: part.spec, typed: true });
  });
  out.push({ kind: 'sql', text: ')' });
  return out;
}

// The statement for one key, or undefined when an expansion is empty
// (%d of an unqualified key...): then no query is made.
export function bindQuery(
  pieces: SqlPiece[],
  key: string,
): BoundQuery | undefined {
  const address = splitAddress(key);
  const values: string[] = [];
  let text = '';
  for (const piece of pieces) {
    const sql = pieceText(piece, address, values);
    if (sql === undefined) return undefined;
    text += sql;
  }
  return { text, values };
}

function pieceText(
  piece: SqlPiece,
  key: Address,
  values: string[],
): string | undefined {
  if (piece.kind === 'sql') return piece.text;
  if (piece.kind === 'param') {
    const value = expandOne(piece.spec, key);
    if (value === undefined) return undefined;
    values.push(value);
    return `$${values.length}${piece.typed ? '::text' : ''}`;
  }
  let name = '';
  for (const part of piece.parts) {
    const value =
      part.kind === 'text'
        ? part.text.replace(/""/g, '"')
        : expandOne(part.spec, key);
    if (value === undefined) return undefined;
    name += value;
  }
  return escapeIdentifier(name);
}

// Splits SQL text into code, '...' strings (with '' and, in E'...',
// backslash escapes) and "..." identifiers. XXX $$dollar-quoted$$ text
// and comments are taken as code: a %s inside them becomes a parameter.
function scanSql(config: DbConfig, query: string): Segment[] {
  const segments: Segment[] = [];
  let code = '';
  let i = 0;
  while (i < query.length) {
    const ch = query[i];
    if (ch !== "'" && ch !== '"') {
      code += query[i++];
      continue;
    }
    let prefix = '';
    if (ch === "'" && /(^|[^\w$])[eE]$/.test(code)) {
      prefix = code.slice(-1);
      code = code.slice(0, -1);
    }
    if (code) segments.push({ kind: 'code', raw: code, prefix: '' });
    code = '';
    const end = closingQuote(query, i, prefix !== '');
    if (end < 0) config.fail('query', `unterminated ${ch} in query`);
    const kind = ch === "'" ? 'string' : 'ident';
    segments.push({ kind, raw: query.slice(i + 1, end), prefix });
    i = end + 1;
  }
  if (code) segments.push({ kind: 'code', raw: code, prefix: '' });
  return segments;
}

function closingQuote(text: string, open: number, escapes: boolean): number {
  const quote = text[open];
  for (let j = open + 1; j < text.length; j++) {
    if (escapes && text[j] === '\\') j++;
    else if (text[j] === quote && text[j + 1] === quote) j++;
    else if (text[j] === quote) return j;
  }
  return -1;
}
