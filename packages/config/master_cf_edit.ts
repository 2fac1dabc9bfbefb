// Editing master.cf in place for postconf -Me, -MX, -M#, -Fe, -Pe and
// -PX: the entry's logical line is rewritten or removed, comments and
// other entries stay. The result is parsed before it is written, so a
// bad edit leaves the file as it was.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ConfigError,
  describeError,
  logicalLines,
  splitPhysical,
  writeFileAtomic,
} from './main_cf';
import { MASTER_FIELDS, MasterEntry, parseMasterCf } from './master_cf';

export type MasterEdit =
  | { kind: 'remove'; key: string }
  | { kind: 'comment'; key: string }
  | { kind: 'entry'; key: string; text: string }
  | { kind: 'field'; key: string; field: string; value: string }
  | { kind: 'param'; key: string; name: string; value?: string };

// Column widths shared with postconf -M, so edited lines look alike.
const COLUMN_WIDTHS = [10, 5, 7, 7, 7, 7, 7] as const;

export function editMasterCf(configDir: string, edits: MasterEdit[]): void {
  const file = path.join(configDir, 'master.cf');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`open ${file}: ${describeError(err)}`);
  }
  const edited = edits.reduce((acc, edit) => applyEdit(acc, edit, file), text);
  parseMasterCf(edited, file);
  writeFileAtomic(file, edited);
}

function applyEdit(text: string, edit: MasterEdit, file: string): string {
  const entry = findEntry(text, edit.key, file);
  if (edit.kind === 'entry') checkEntryKey(edit.text, edit.key, file);
  if (!entry) {
    if (edit.kind !== 'entry')
      throw new ConfigError(`${file}: service not found: ${edit.key}`);
    return appendLine(text, edit.text);
  }
  return replaceEntry(text, entry, editedLines(entry, edit, file));
}

// The new text of "svc/type = text" must itself be that service.
function checkEntryKey(text: string, key: string, file: string): void {
  const [entry] = parseMasterCf(text, file);
  if (`${entry.name}/${entry.type}` !== key)
    throw new ConfigError(`${file}: entry "${text}" is not ${key}`);
}

function findEntry(
  text: string,
  key: string,
  file: string,
): MasterEntry | undefined {
  if (!/^[^/]+\/[^/]+$/.test(key))
    throw new ConfigError(`${file}: bad service/type: "${key}"`);
  return parseMasterCf(text, file).find(
    (entry) => `${entry.name}/${entry.type}` === key,
  );
}

function editedLines(
  entry: MasterEntry,
  edit: MasterEdit,
  file: string,
): string[] | null {
  if (edit.kind === 'remove') return [];
  if (edit.kind === 'comment') return null;
  if (edit.kind === 'entry') return [edit.text];
  if (edit.kind === 'field') return formatEntry(withField(entry, edit, file));
  return formatEntry(withParam(entry, edit.name, edit.value));
}

// null lines mean: comment out the lines that are there.
function replaceEntry(
  text: string,
  entry: MasterEntry,
  lines: string[] | null,
): string {
  const physical = splitPhysical(text);
  const span = logicalLines(physical).find((l) => l.start === entry.line - 1);
  if (!span) return text;
  const old = physical.slice(span.start, span.end);
  const replacement = lines ?? old.map((line) => '#' + line);
  physical.splice(span.start, span.end - span.start, ...replacement);
  return physical.join('\n') + '\n';
}

function appendLine(text: string, line: string): string {
  const body = text === '' || text.endsWith('\n') ? text : text + '\n';
  return body + line + '\n';
}

type Columns = { fields: string[]; words: string[] };

function withField(
  entry: MasterEntry,
  edit: { field: string; value: string },
  file: string,
): Columns {
  const index = (MASTER_FIELDS as readonly string[]).indexOf(edit.field);
  if (index < 0)
    throw new ConfigError(`${file}: unknown master.cf field: ${edit.field}`);
  if (index === MASTER_FIELDS.length - 1)
    return { fields: entry.fields, words: [edit.value] };
  const fields = [...entry.fields];
  fields[index] = edit.value;
  return { fields, words: entry.words };
}

// Drop every -o for the name, then add the new one (if any) at the end.
function withParam(
  entry: MasterEntry,
  name: string,
  value: string | undefined,
): Columns {
  const words: string[] = [];
  for (let i = 0; i < entry.words.length; i++) {
    const word = entry.words[i];
    const setting = word === '-o' ? entry.words[i + 1] : undefined;
    if (setting !== undefined && settingName(setting) === name) i++;
    else words.push(word);
  }
  if (value !== undefined) words.push('-o', formatSetting(name, value));
  return { fields: entry.fields, words };
}

function settingName(word: string): string {
  const inner = word.startsWith('{') ? word.slice(1, -1) : word;
  return inner.split('=')[0].trim();
}

function formatSetting(name: string, value: string): string {
  return /\s/.test(value) || value === ''
    ? `{ ${name} = ${value} }`
    : `${name}=${value}`;
}

// The folded layout of postconf -Mf: columns, then one -o per line.
function formatEntry(columns: Columns): string[] {
  const head = columns.fields
    .map((field, i) => field.padEnd(COLUMN_WIDTHS[i]))
    .join(' ');
  const lines = [`${head} ${columns.words[0]}`];
  for (let i = 1; i < columns.words.length; i++) {
    const word = columns.words[i];
    if (word === '-o' && i + 1 < columns.words.length)
      lines.push(`  -o ${columns.words[++i]}`);
    else lines[lines.length - 1] += ` ${word}`;
  }
  return lines;
}

export type MasterTarget = 'M' | 'F' | 'P';
export type EditAction = 'set' | 'remove' | 'comment';

// postconf's arguments as edits: -Me "svc/type = entry", -MX and -M#
// "svc/type", -Fe "svc/type/field = value", -Pe "svc/type/name = value",
// -PX "svc/type/name". Undefined when the flags make no such mode.
export function masterEdits(
  target: MasterTarget,
  action: EditAction,
  args: string[],
): MasterEdit[] | undefined {
  const toEdit = EDIT_BUILDERS[`${target}${action}`];
  return toEdit ? args.map(toEdit) : undefined;
}

const EDIT_BUILDERS: Record<string, ((arg: string) => MasterEdit) | undefined> =
  {
    Mset: (arg) => {
      const [key, text] = splitAssignment(arg);
      return { kind: 'entry', key, text };
    },
    Mremove: (arg) => ({ kind: 'remove', key: arg }),
    Mcomment: (arg) => ({ kind: 'comment', key: arg }),
    Fset: (arg) => {
      const [target, value] = splitAssignment(arg);
      const { key, leaf } = splitLeaf(target);
      return { kind: 'field', key, field: leaf, value };
    },
    Pset: (arg) => {
      const [target, value] = splitAssignment(arg);
      const { key, leaf } = splitLeaf(target);
      return { kind: 'param', key, name: leaf, value };
    },
    Premove: (arg) => {
      const { key, leaf } = splitLeaf(arg);
      return { kind: 'param', key, name: leaf };
    },
  };

function splitAssignment(arg: string): [string, string] {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new ConfigError(`missing '=' in "${arg}"`);
  return [arg.slice(0, eq).trim(), arg.slice(eq + 1).trim()];
}

function splitLeaf(arg: string): { key: string; leaf: string } {
  const parts = arg.split('/');
  if (parts.length !== 3 || parts.some((part) => part === ''))
    throw new ConfigError(`bad service/type/name: "${arg}"`);
  return { key: `${parts[0]}/${parts[1]}`, leaf: parts[2] };
}
