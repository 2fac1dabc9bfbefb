// The work behind postmap(1) and postalias(1): build an indexed table
// from its source file, query, delete, list and update tables, with
// Postfix's messages. The commands parse flags and call these; failures
// throw MkmapError with the text that follows "fatal: ".
// Updates hold an exclusive lock on the source file; readers need none,
// since a new table is renamed into place whole.

import * as fs from 'node:fs';
import type { TableConfig } from './dict';
import { DictError, dictOpen, fileErrorText } from './dict';
import { parseDictSpec } from './dict_parse';
import { IndexedType, indexedType, openReader } from './dict_indexed';
import { BuildMode, sourceMode, TableBuild } from './dict_build';
import { withTableLock } from './dict_lock';
import {
  normalizeAliasValue,
  parseAliasLine,
  parseMapLine,
  SourceEntry,
  SourceLine,
  splitLogicalLines,
} from './dict_source';
import { msg } from '../log/log';

export class MkmapError extends Error {}

export type Program = 'postmap' | 'postalias';
export type Duplicates = 'warn' | 'replace' | 'ignore';

export interface MkmapOptions {
  program: Program;
  config: TableConfig;
  fold: boolean; // -f clears: keep the key case
  nul?: boolean; // -N true, -n false, else the type's default
  duplicates: Duplicates; // -r replace, -w ignore
  inheritMode: boolean; // -p clears
  keepRoot: boolean; // -o
}

export interface TableRef {
  spec: string; // as given, with the type made explicit
  type: string;
  name: string;
}

// "[type:]file", the type defaulting to $default_database_type.
export function tableRef(arg: string, config: TableConfig): TableRef {
  const parsed = parseDictSpec(arg);
  const type = parsed?.type ?? config.get('default_database_type');
  const name = parsed ? parsed.name : arg;
  return { spec: `${type}:${name}`, type, name };
}

function indexedOrFail(
  ref: TableRef,
  config: TableConfig,
  what: string,
): IndexedType {
  const kind = wrap(() => indexedType(ref.type, ref.name, config));
  if (!kind)
    throw new MkmapError(
      `table ${ref.spec}: ${what} operation is not supported`,
    );
  return kind;
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MkmapError) throw err;
    throw new MkmapError(err instanceof Error ? err.message : String(err));
  }
}

// postmap file / postalias file: a new table from the whole source.
export async function buildTable(
  ref: TableRef,
  options: MkmapOptions,
): Promise<void> {
  const kind = indexedOrFail(ref, options.config, 'create');
  const lines = splitLogicalLines(readSource(ref.name));
  dropPrivileges(ref.name, options);
  await withTableLock(ref.name, () =>
    fillAndCommit(
      openBuild(kind, ref, 'create', options),
      ref,
      lines,
      ref.name,
      options,
    ),
  );
}

// postmap -i: entries from standard input added to the table, which is
// created when it does not exist yet.
export async function updateTable(
  ref: TableRef,
  input: string,
  options: MkmapOptions,
): Promise<void> {
  const kind = indexedOrFail(ref, options.config, 'update');
  const lines = splitLogicalLines(input);
  await withTableLock(ref.name, () => {
    const exists = fs.existsSync(ref.name + kind.suffix);
    const build = openBuild(kind, ref, exists ? 'update' : 'create', options);
    return fillAndCommit(build, ref, lines, '-', options);
  });
}

function openBuild(
  kind: IndexedType,
  ref: TableRef,
  mode: BuildMode,
  options: MkmapOptions,
): TableBuild {
  const writer = writerOptions(kind, ref.name, options);
  return wrap(() => new TableBuild(kind, ref.name, mode, writer));
}

async function fillAndCommit(
  build: TableBuild,
  ref: TableRef,
  lines: SourceLine[],
  where: string,
  options: MkmapOptions,
): Promise<void> {
  addEntries(build, ref, lines, where, options);
  if (options.program === 'postalias') addAliasKeys(build, options.config);
  await wrapAsync(() => build.commit());
}

async function wrapAsync(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new MkmapError(err instanceof Error ? err.message : String(err));
  }
}

function readSource(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MkmapError(fileErrorText(file, err));
  }
}

function writerOptions(kind: IndexedType, name: string, options: MkmapOptions) {
  const source = options.inheritMode ? sourceMode(name) : undefined;
  const mode = source === undefined ? undefined : 0o600 | (source & 0o044);
  return { nul: options.nul ?? kind.nulByDefault, mode };
}

function addEntries(
  build: TableBuild,
  ref: TableRef,
  lines: SourceLine[],
  where: string,
  options: MkmapOptions,
): void {
  for (const line of lines) {
    const entry = parseEntry(line, where, options.program);
    if (!entry) continue;
    const key = options.fold ? entry.key.toLowerCase() : entry.key;
    if (build.get(key) !== undefined && options.duplicates !== 'replace') {
      if (options.duplicates === 'warn')
        msg.warn(`${ref.spec}: duplicate entry: "${key}"`);
      continue;
    }
    const value =
      options.program === 'postalias'
        ? normalizeAliasValue(entry.value)
        : entry.value;
    build.put(key, value);
  }
}

function parseEntry(
  line: SourceLine,
  where: string,
  program: Program,
): SourceEntry | undefined {
  const entry =
    program === 'postalias' ? parseAliasLine(line) : parseMapLine(line);
  if (!entry)
    msg.warn(
      `${where}, line ${line.lineNo}: ` +
        (program === 'postalias'
          ? 'need name:value pair'
          : 'expected format: key whitespace value'),
    );
  return entry;
}

// The "@" sentinel says the alias database is complete (sendmail's
// convention); the YP keys keep NIS tools that read it happy.
function addAliasKeys(build: TableBuild, config: TableConfig): void {
  build.put('@', '@');
  build.put('YP_LAST_MODIFIED', String(Math.floor(Date.now() / 1000)));
  build.put('YP_MASTER_NAME', config.get('myhostname'));
}

// As root, postmap works as the owner of the source file unless -o, so
// that a user's table cannot be used to write where only root may.
function dropPrivileges(source: string, options: MkmapOptions): void {
  if (options.keepRoot || process.getuid?.() !== 0) return;
  const st = fs.statSync(source);
  if (st.uid === 0) return;
  process.setgid!(st.gid);
  process.setuid!(st.uid);
}

// postmap -q: the first table that has the key, in argument order.
export async function queryTables(
  refs: TableRef[],
  key: string,
  options: MkmapOptions,
): Promise<string | undefined> {
  for (const ref of refs) {
    const dict = openForQuery(ref, options);
    try {
      const value = await dict.lookup(key);
      if (value !== undefined) return value;
    } catch (err) {
      throw new MkmapError(
        `table ${ref.spec}: query error: ${(err as Error).message}`,
      );
    } finally {
      dict.close();
    }
  }
  return undefined;
}

function openForQuery(ref: TableRef, options: MkmapOptions) {
  return wrap(() =>
    dictOpen(ref.spec, { fold: options.fold, config: options.config }),
  );
}

// postmap -d: delete from every table; true when any table had the key.
export async function deleteKey(
  refs: TableRef[],
  keys: string[],
  options: MkmapOptions,
): Promise<boolean> {
  let found = false;
  for (const ref of refs) {
    const kind = indexedOrFail(ref, options.config, 'delete');
    await withTableLock(ref.name, async () => {
      const build = openBuild(kind, ref, 'update', options);
      for (const key of keys)
        if (build.remove(options.fold ? key.toLowerCase() : key)) found = true;
      await wrapAsync(() => build.commit());
    });
  }
  return found;
}

// postmap -s: every entry, "key<TAB>value"; postalias shows "key:<TAB>".
export function listTable(ref: TableRef, options: MkmapOptions): string[] {
  const kind = indexedOrFail(ref, options.config, 'sequence');
  const reader = wrap(() => openReader(kind, ref.name + kind.suffix));
  const sep = options.program === 'postalias' ? ':\t' : '\t';
  try {
    return [...reader.entries()].map(([key, value]) => `${key}${sep}${value}`);
  } finally {
    reader.close();
  }
}

// postmap -h and -b with "-q -": the lookup keys that header_checks and
// body_checks would see for a message on standard input, without MIME
// parsing (-m): each logical header line (continuation lines kept with
// their newline), then each body line.
export function messageKeys(
  text: string,
  headers: boolean,
  body: boolean,
): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const keys: string[] = [];
  let i = 0;
  for (; i < lines.length && isHeaderStart(lines[i]); i++) {
    let header = lines[i];
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]))
      header += '\n' + lines[++i];
    if (headers) keys.push(header);
  }
  if (i < lines.length && lines[i] === '') i++;
  if (body) keys.push(...lines.slice(i));
  return keys;
}

function isHeaderStart(line: string): boolean {
  return /^[\x21-\x39\x3b-\x7e]+:/.test(line);
}

export { DictError };
