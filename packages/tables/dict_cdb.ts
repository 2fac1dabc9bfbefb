// cdb:/file tables in "/file.cdb", D. J. Bernstein's constant database
// format: a 2048-byte header of 256 (position, slots) pairs, the records
// (key length, value length, key, value), then the 256 hash tables of
// (hash, position) slots; numbers are 32-bit little-endian. Read-only
// once built, rebuilt whole and renamed into place, as Postfix does.
// XXX the reader loads the whole file into memory, which is fine for
// alias and transport tables but not for tables of millions of keys.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IndexedReader, IndexedType, WriterOptions } from './dict_indexed';
import { decodeText, encodeText, fsyncDir, writeDurably } from './dict_bytes';

const HEADER_SIZE = 2048;
const MAX_SIZE = 0xffffffff;

export function cdbHash(key: Buffer): number {
  let h = 5381;
  for (const byte of key) h = (((h << 5) + h) ^ byte) >>> 0;
  return h;
}

// The value under key, or undefined: probe the key's table from the
// slot its hash picks until an empty slot.
export function cdbFind(data: Buffer, key: Buffer): Buffer | undefined {
  const h = cdbHash(key);
  const tablePos = data.readUInt32LE((h & 255) * 8);
  const slots = data.readUInt32LE((h & 255) * 8 + 4);
  for (let i = 0; i < slots; i++) {
    const slot = tablePos + (((h >>> 8) + i) % slots) * 8;
    const recordPos = data.readUInt32LE(slot + 4);
    if (recordPos === 0) return undefined;
    if (data.readUInt32LE(slot) !== h) continue;
    const found = recordAt(data, recordPos);
    if (found.key.equals(key)) return found.value;
  }
  return undefined;
}

function recordAt(
  data: Buffer,
  pos: number,
): { key: Buffer; value: Buffer; next: number } {
  const klen = data.readUInt32LE(pos);
  const vlen = data.readUInt32LE(pos + 4);
  const key = data.subarray(pos + 8, pos + 8 + klen);
  const value = data.subarray(pos + 8 + klen, pos + 8 + klen + vlen);
  return { key, value, next: pos + 8 + klen + vlen };
}

function* cdbRecords(data: Buffer): Iterable<[Buffer, Buffer]> {
  const end = data.readUInt32LE(0); // the first hash table follows the records
  for (let pos = HEADER_SIZE; pos < end;) {
    const record = recordAt(data, pos);
    yield [record.key, record.value];
    pos = record.next;
  }
}

function cdbReader(file: string): IndexedReader {
  const data = fs.readFileSync(file);
  if (data.length < HEADER_SIZE) throw new Error(`${file}: not a cdb file`);
  return {
    get: (key) => {
      const hit =
        cdbFind(data, encodeText(key, false)) ??
        cdbFind(data, encodeText(key, true));
      return hit === undefined ? undefined : decodeText(hit);
    },
    entries: () => decodeAll(data),
    close: () => undefined,
  };
}

function* decodeAll(data: Buffer): Iterable<[string, string]> {
  for (const [key, value] of cdbRecords(data))
    yield [decodeText(key), decodeText(value)];
}

// The whole file image: header, records, then per bucket a table twice
// as long as its entry count, so that probes end at an empty slot. One
// buffer is filled in place: a table may hold millions of entries.
export function cdbImage(
  entries: Array<[string, string]>,
  nul: boolean,
): Buffer {
  const extra = nul ? 1 : 0;
  let size = HEADER_SIZE + entries.length * 24; // record heads and 2 slots each
  for (const [key, value] of entries)
    size += Buffer.byteLength(key) + Buffer.byteLength(value) + 2 * extra;
  if (size > MAX_SIZE) throw new Error('cdb file would exceed 4 GB');
  const image = Buffer.alloc(size);
  const buckets = writeRecords(image, entries, extra);
  writeTables(image, buckets);
  return image;
}

// Records from HEADER_SIZE on; returns (hash, position) pairs per bucket.
function writeRecords(
  image: Buffer,
  entries: Array<[string, string]>,
  extra: number,
): number[][] {
  const buckets: number[][] = Array.from({ length: 256 }, () => []);
  let pos = HEADER_SIZE;
  for (const [key, value] of entries) {
    const klen = image.write(key, pos + 8) + extra;
    const vlen = image.write(value, pos + 8 + klen) + extra;
    image.writeUInt32LE(klen, pos);
    image.writeUInt32LE(vlen, pos + 4);
    const h = cdbHash(image.subarray(pos + 8, pos + 8 + klen));
    buckets[h & 255].push(h, pos);
    pos += 8 + klen + vlen;
  }
  image.writeUInt32LE(pos, 0); // where the tables start, for writeTables
  return buckets;
}

function writeTables(image: Buffer, buckets: number[][]): void {
  let pos = image.readUInt32LE(0);
  buckets.forEach((pairs, i) => {
    const slots = pairs.length; // two slots per entry
    image.writeUInt32LE(pos, i * 8);
    image.writeUInt32LE(slots, i * 8 + 4);
    for (let j = 0; j < pairs.length; j += 2) {
      let slot = (pairs[j] >>> 8) % slots;
      while (image.readUInt32LE(pos + slot * 8 + 4) !== 0)
        slot = (slot + 1) % slots;
      image.writeUInt32LE(pairs[j], pos + slot * 8);
      image.writeUInt32LE(pairs[j + 1], pos + slot * 8 + 4);
    }
    pos += slots * 8;
  });
}

async function cdbBuild(
  file: string,
  entries: Map<string, string>,
  options: WriterOptions,
): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const image = cdbImage([...entries], options.nul);
  writeDurably(temp, image, options.mode ?? 0o644);
  fs.renameSync(temp, file);
  fsyncDir(path.dirname(file));
}

// Postfix's dict_cdb stores keys without the trailing NUL.
export const CDB_TYPE: IndexedType = {
  type: 'cdb',
  suffix: '.cdb',
  nulByDefault: false,
  openReader: cdbReader,
  build: cdbBuild,
};
