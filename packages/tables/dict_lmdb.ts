// lmdb:/file tables in "/file.lmdb", in the layout Postfix's dict_lmdb
// uses: one unnamed database in the file itself (no subdirectory),
// binary keys and values with a trailing NUL. Used through dict_indexed.
// Postfix's liblmdb 0.9 uses data format 1. Format 1 files are read by
// lmdb_reader.ts (no lock file, so mail_owner can read root's tables);
// the lmdb package writes them once lmdb_data_v1.sh has rebuilt it (its
// prebuilt binary writes format 2, which Postfix cannot read, and
// crashes on format 1). A file in a format we cannot read is refused.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lmdb from 'lmdb';
import { open, RootDatabase } from 'lmdb';
import { DictError } from './dict';
import type {
  IndexedReader,
  IndexedType,
  TableChanges,
  WriterOptions,
} from './dict_indexed';
import { decodeText, encodeText, fsyncDir } from './dict_bytes';
import { LmdbReader } from './lmdb_reader';

// LMDB's development branch (0.9.90, "mdb.master3") is data format 2.
// (The package exports version; its type declarations omit it.)
const LIB_VERSION = (lmdb as unknown as { version: { patch: number } }).version;
export const LIB_DATA_FORMAT = LIB_VERSION.patch >= 90 ? 2 : 1;
const MAGIC = 0xbeefc0de;

// The data format in the first meta page: the magic number is followed
// by the version, at offset 16 in format 1 and 24 in format 2.
export function fileDataFormat(file: string): number | undefined {
  const head = Buffer.alloc(64);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, head, 0, 64, 0) < 64) return undefined;
  } finally {
    fs.closeSync(fd);
  }
  for (const at of [16, 24])
    if (head.readUInt32LE(at) === MAGIC) return head.readUInt32LE(at + 4);
  return undefined;
}

function formatError(file: string, format: number | undefined): DictError {
  const hint =
    LIB_DATA_FORMAT === 2 ? ' (run packages/tables/lmdb_data_v1.sh)' : '';
  return new DictError(
    `open database ${file}: LMDB data format ${format ?? 'unknown'}; ` +
      `the lmdb library here writes format ${LIB_DATA_FORMAT}${hint}`,
  );
}

// Writers must not touch a file of the other format: liblmdb would
// crash or corrupt it.
function checkWritable(file: string): void {
  if (!fs.existsSync(file)) return;
  const format = fileDataFormat(file);
  if (format !== LIB_DATA_FORMAT) throw formatError(file, format);
}

function openEnv(
  file: string,
  readOnly: boolean,
): RootDatabase<Buffer, Buffer> {
  if (!readOnly) checkWritable(file);
  return open<Buffer, Buffer>({
    path: file,
    noSubdir: true,
    readOnly,
    encoding: 'binary',
    keyEncoding: 'binary',
    overlappingSync: false,
    cache: false,
  });
}

// Postfix tries the key with its NUL, then without (TRY1NULL/TRY0NULL).
function lmdbReader(file: string): IndexedReader {
  const format = fileDataFormat(file);
  if (format === 1) return formatOneReader(file);
  if (format !== LIB_DATA_FORMAT) throw formatError(file, format);
  const db = openEnv(file, true);
  return {
    get: (key) => {
      const hit =
        db.get(encodeText(key, true)) ?? db.get(encodeText(key, false));
      return hit === undefined ? undefined : decodeText(hit);
    },
    entries: () => lmdbEntries(db),
    close: () => void db.close(),
  };
}

function formatOneReader(file: string): IndexedReader {
  const reader = new LmdbReader(file);
  return {
    get: (key) => {
      const hit =
        reader.get(encodeText(key, true)) ?? reader.get(encodeText(key, false));
      return hit === undefined ? undefined : decodeText(hit);
    },
    entries: () => decodeEntries(reader.entries()),
    close: () => reader.close(),
  };
}

function* decodeEntries(
  entries: Iterable<[Buffer, Buffer]>,
): Iterable<[string, string]> {
  for (const [key, value] of entries)
    yield [decodeText(key), decodeText(value)];
}

function* lmdbEntries(
  db: RootDatabase<Buffer, Buffer>,
): Iterable<[string, string]> {
  for (const { key, value } of db.getRange({}))
    yield [decodeText(key as Buffer), decodeText(value)];
}

async function lmdbBuild(
  file: string,
  entries: Map<string, string>,
  options: WriterOptions,
): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  removeQuietly(temp);
  const db = openEnv(temp, false);
  try {
    db.transactionSync(() => {
      for (const [key, value] of entries)
        db.putSync(
          encodeText(key, options.nul),
          encodeText(value, options.nul),
        );
    });
  } finally {
    await db.close();
  }
  if (options.mode !== undefined) fs.chmodSync(temp, options.mode);
  fs.renameSync(temp, file);
  removeQuietly(`${temp}-lock`);
  fsyncDir(path.dirname(file));
}

// Deletes try both key forms, so that a table built by either layout
// loses the entry.
async function lmdbApply(
  file: string,
  changes: TableChanges,
  options: WriterOptions,
): Promise<void> {
  fs.accessSync(file, fs.constants.W_OK);
  const db = openEnv(file, false);
  try {
    db.transactionSync(() => {
      for (const [key, value] of changes) {
        db.removeSync(encodeText(key, true));
        db.removeSync(encodeText(key, false));
        if (value !== null)
          db.putSync(
            encodeText(key, options.nul),
            encodeText(value, options.nul),
          );
      }
    });
  } finally {
    await db.close();
    // Readers need no lock file (lmdb_reader.ts); leave none behind.
    removeQuietly(`${file}-lock`);
  }
}

function removeQuietly(file: string): void {
  fs.rmSync(file, { force: true });
}

export const LMDB_TYPE: IndexedType = {
  type: 'lmdb',
  suffix: '.lmdb',
  nulByDefault: true,
  openReader: lmdbReader,
  build: lmdbBuild,
  apply: lmdbApply,
};
