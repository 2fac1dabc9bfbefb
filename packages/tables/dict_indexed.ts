// Indexed file tables that postmap and postalias build: lmdb ("name.lmdb")
// and cdb ("name.cdb"), plus what hash: and btree: mean in this build.
//
// We have no Berkeley DB, like Postfix 3.11 built without it with
// "postfix non-bdb enable-redirect": hash: is redirected to
// $default_database_type and btree: to $default_cache_db_type (both lmdb
// by default), with a warning naming both, so "hash:/etc/aliases" opens
// the /etc/aliases.lmdb that "postalias hash:/etc/aliases" built.
// Used by dict.ts (lookups) and the postmap/postalias commands (builds).
// XXX Postfix's non_bdb_custom_mapping (other redirections) is not read.

import type { Dict, OpenContext, TableConfig } from './dict';
import { DICT_FLAG, DictError, fileErrorText } from './dict';
import { FileStamp } from './dict_file';
import { CDB_TYPE } from './dict_cdb';
import { LMDB_TYPE } from './dict_lmdb';
import { msg } from '../log/log';

export interface IndexedReader {
  get(key: string): string | undefined;
  entries(): Iterable<[string, string]>;
  close(): void;
}

export interface WriterOptions {
  nul: boolean; // store keys and values with their trailing NUL
  mode?: number; // permissions of a new file
}

// null in changes means delete.
export type TableChanges = Map<string, string | null>;

export interface IndexedType {
  readonly type: string;
  readonly suffix: string;
  readonly nulByDefault: boolean; // as Postfix writes this type
  openReader(file: string): IndexedReader;
  // A new file from all entries, renamed over the old one when complete.
  build(
    file: string,
    entries: Map<string, string>,
    options: WriterOptions,
  ): Promise<void>;
  // Changes to the existing file in one transaction; undefined when the
  // type cannot be updated in place (cdb).
  apply?(
    file: string,
    changes: TableChanges,
    options: WriterOptions,
  ): Promise<void>;
}

// Looked up at call time: the type modules import this one, and a
// module-level table could catch one of them half loaded.
function knownType(type: string): IndexedType | undefined {
  if (type === 'lmdb') return LMDB_TYPE;
  if (type === 'cdb') return CDB_TYPE;
  return undefined;
}

const REDIRECTS = {
  hash: 'default_database_type',
  btree: 'default_cache_db_type',
} as const;

const warned = new Set<string>();

// The indexed type that "type:" stands for here, or undefined when the
// type is not an indexed file type at all.
export function indexedType(
  type: string,
  name: string,
  config?: TableConfig,
): IndexedType | undefined {
  if (!(type in REDIRECTS)) return knownType(type);
  const param = REDIRECTS[type as keyof typeof REDIRECTS];
  const target = configValue(config, param, 'lmdb');
  const found = knownType(target);
  if (!found)
    throw new DictError(
      `unsupported dictionary type: ${type}: no Berkeley DB in this ` +
        `build, and ${param} = ${target} is not an indexed type either`,
    );
  warnRedirect(type, name, target, param);
  return found;
}

function configValue(
  config: TableConfig | undefined,
  name: string,
  fallback: string,
): string {
  try {
    return config?.get(name).trim() || fallback;
  } catch {
    return fallback;
  }
}

function warnRedirect(
  type: string,
  name: string,
  target: string,
  param: string,
): void {
  const key = `${type}:${name}`;
  if (warned.has(key)) return;
  warned.add(key);
  msg.warn(
    `${key}: Berkeley DB is not available in this build; ` +
      `using ${target}:${name} instead (${param} = ${target})`,
  );
}

export function indexedOpener(type: string) {
  return (name: string, ctx: OpenContext): Dict => {
    const kind = indexedType(type, name, ctx.config);
    if (!kind) throw new DictError(`unsupported dictionary type: ${type}`);
    return openIndexedDict(type, name, kind);
  };
}

// A changed file (postmap renamed a new one in) is reopened on the next
// lookup; lmdb updates in place are seen by new read transactions.
function openIndexedDict(type: string, name: string, kind: IndexedType): Dict {
  const file = name + kind.suffix;
  let reader = openReader(kind, file);
  const stamp = new FileStamp(file);
  return {
    type,
    name,
    flags: DICT_FLAG.FIXED,
    lookup: async (key) => {
      if (stamp.changed()) {
        reader.close();
        reader = openReader(kind, file);
      }
      return reader.get(key);
    },
    close: () => reader.close(),
  };
}

export function openReader(kind: IndexedType, file: string): IndexedReader {
  try {
    return kind.openReader(file);
  } catch (err) {
    if (err instanceof DictError) throw err;
    throw new DictError(
      fileErrorText(file, err).replace(/^open /, 'open database '),
    );
  }
}

// The file that holds "type:name" here ("/etc/aliases.lmdb" for
// hash:/etc/aliases), or the name itself for non-indexed types; for
// callers that check the owner of a table file (local's alias tables).
export function tableFile(
  type: string,
  name: string,
  config?: TableConfig,
): string {
  try {
    const kind = indexedType(type, name, config);
    return kind ? name + kind.suffix : name;
  } catch {
    return name;
  }
}
