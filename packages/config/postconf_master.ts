// What postconf shows of master.cf: entries (-M, -Mf), their fields (-F)
// and their -o parameters (-P), in Postfix's layout. Filters are
// "service", "service/type" and, for -F/-P, "service/type/name".
// Edits (-Me, -MX, -M#, -Fe, -Pe, -PX) are in master_cf_edit.ts.

import { MASTER_FIELDS, MasterEntry } from './master_cf';

// Column widths of postconf -M: the service name, then type, then the
// five single-word columns.
const COLUMN_WIDTHS = [10, 5, 7, 7, 7, 7, 7] as const;

export interface FieldOptions {
  nameOnly?: boolean; // -H
  valueOnly?: boolean; // -h
}

export function showMasterEntries(
  entries: MasterEntry[],
  filters: string[],
  fold = false,
): string[] {
  return entries
    .filter((entry) => matchesAny(entry, filters))
    .flatMap((entry) => formatEntry(entry, fold));
}

function formatEntry(entry: MasterEntry, fold: boolean): string[] {
  const columns = entry.fields
    .map((field, i) => field.padEnd(COLUMN_WIDTHS[i]))
    .join(' ');
  if (!fold) return [`${columns} ${entry.words.join(' ')}`];
  return foldWords(`${columns} ${entry.words[0]}`, entry.words.slice(1));
}

// -Mf: each "-o name=value" on a line of its own, other arguments fill
// lines up to 80 columns; continuation lines are indented.
function foldWords(first: string, words: string[]): string[] {
  const lines = [first];
  for (let i = 0; i < words.length; i++) {
    const word =
      words[i] === '-o' && i + 1 < words.length ? `-o ${words[++i]}` : words[i];
    const last = lines[lines.length - 1];
    const joined = `${last} ${word}`;
    if (word.startsWith('-o') || joined.length > 80) lines.push(`    ${word}`);
    else lines[lines.length - 1] = joined;
  }
  return lines;
}

function fieldValues(entry: MasterEntry): string[] {
  return [...entry.fields, entry.words.join(' ')];
}

export function showMasterFields(
  entries: MasterEntry[],
  filters: string[],
  options: FieldOptions = {},
): string[] {
  const lines: string[] = [];
  for (const entry of entries) {
    const values = fieldValues(entry);
    MASTER_FIELDS.forEach((field, i) => {
      if (matchesAny(entry, filters, field))
        lines.push(formatField(entry, field, values[i], options));
    });
  }
  return lines;
}

export function showMasterParams(
  entries: MasterEntry[],
  filters: string[],
  options: FieldOptions = {},
): string[] {
  const lines: string[] = [];
  for (const entry of entries)
    for (const [name, value] of Object.entries(entry.overrides))
      if (matchesAny(entry, filters, name))
        lines.push(formatField(entry, name, value, options));
  return lines;
}

function formatField(
  entry: MasterEntry,
  name: string,
  value: string,
  options: FieldOptions,
): string {
  const key = `${entry.name}/${entry.type}/${name}`;
  if (options.nameOnly) return key;
  if (options.valueOnly) return value;
  return value === '' ? `${key} =` : `${key} = ${value}`;
}

// "smtp", "smtp/inet" or "smtp/inet/field"; no filter matches all.
function matchesAny(
  entry: MasterEntry,
  filters: string[],
  leaf?: string,
): boolean {
  if (filters.length === 0) return true;
  return filters.some((filter) => {
    const [name, type, field] = filter.split('/');
    if (name && name !== entry.name) return false;
    if (type && type !== entry.type) return false;
    return !field || leaf === undefined || field === leaf;
  });
}
