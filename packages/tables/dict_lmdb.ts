// lmdb:/file tables in "/file.lmdb", in the layout Postfix's dict_lmdb
// uses: one unnamed database in the file itself (no subdirectory), LMDB
// data format 1 (liblmdb 0.9), keys and values with a trailing NUL.
// Read by lmdb_reader.ts and written whole by lmdb_writer.ts, so that no
// lock file is needed (Postfix opens with MDB_NOLOCK) and no native code.
// Updates (postmap -i, -d) rebuild the file and rename it into place.
// Known limit: that rebuild makes each update cost the whole table.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DictError } from './dict';
import type {
  IndexedReader,
  IndexedType,
  TableChanges,
  WriterOptions,
} from './dict_indexed';
import { decodeText, encodeText, fsyncDir, writeDurably } from './dict_bytes';
import { LmdbReader } from './lmdb_reader';
import { lmdbImage } from './lmdb_writer';

const MAGIC = 0xbeefc0de;

// The data format in the first meta page: the magic number is followed
// by the version, at offset 16 in format 1 and 24 in format 2 (LMDB's
// development branch, which the prebuilt lmdb npm package uses).
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

// Postfix tries the key with its NUL, then without (TRY1NULL/TRY0NULL).
function lmdbReader(file: string): IndexedReader {
  const format = fileDataFormat(file);
  if (format !== 1)
    throw new DictError(
      `open database ${file}: LMDB data format ${format ?? 'unknown'}; ` +
        'only format 1 (liblmdb 0.9, as Postfix uses) is supported',
    );
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

async function lmdbBuild(
  file: string,
  entries: Map<string, string>,
  options: WriterOptions,
): Promise<void> {
  const encoded: Array<[Buffer, Buffer]> = [];
  for (const [key, value] of entries)
    encoded.push([
      encodeText(key, options.nul),
      encodeText(value, options.nul),
    ]);
  const temp = `${file}.${process.pid}.tmp`;
  writeDurably(temp, lmdbImage(encoded), options.mode ?? 0o644);
  fs.renameSync(temp, file);
  fsyncDir(path.dirname(file));
}

// The old entries with the changes applied; a deleted key goes in both
// forms, so that a table built either way loses the entry.
async function lmdbApply(
  file: string,
  changes: TableChanges,
  options: WriterOptions,
): Promise<void> {
  const reader = lmdbReader(file);
  const entries = new Map(reader.entries());
  reader.close();
  for (const [key, value] of changes) {
    entries.delete(key);
    if (value !== null) entries.set(key, value);
  }
  const mode = fs.statSync(file).mode & 0o777;
  await lmdbBuild(file, entries, { ...options, mode });
}

export const LMDB_TYPE: IndexedType = {
  type: 'lmdb',
  suffix: '.lmdb',
  nulByDefault: true,
  openReader: lmdbReader,
  build: lmdbBuild,
  apply: lmdbApply,
};
