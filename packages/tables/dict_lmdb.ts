// lmdb:/file tables in "/file.lmdb", read and written with the lmdb npm
// package in the byte layout Postfix's dict_lmdb uses: one unnamed
// database, the file itself (no subdirectory), binary keys and values
// with a trailing NUL. Used through dict_indexed.ts.
// Postfix's liblmdb 0.9 writes data format 1; the prebuilt lmdb-js
// binary uses format 2 (and crashes on format 1 files), so lmdb_data_v1.sh
// rebuilds it; a file in the other format is refused, never opened.
// XXX lmdb-js cannot open with MDB_NOLOCK as Postfix does, so a
// "/file.lmdb-lock" file appears beside the table.

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

function openEnv(
  file: string,
  readOnly: boolean,
): RootDatabase<Buffer, Buffer> {
  if (readOnly) fs.accessSync(file, fs.constants.R_OK);
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

function lmdbReader(file: string): IndexedReader {
  const db = openEnv(file, true);
  return {
    // Postfix tries the key with its NUL, then without (TRY1NULL/TRY0NULL).
    get: (key) => {
      const hit =
        db.get(encodeText(key, true)) ?? db.get(encodeText(key, false));
      return hit === undefined ? undefined : decodeText(hit);
    },
    entries: () => lmdbEntries(db),
    close: () => void db.close(),
  };
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
