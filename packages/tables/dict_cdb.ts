// cdb:/file tables in "/file.cdb", D. J. Bernstein's constant database
// format: a 2048-byte header of 256 (position, slots) pairs, the records
// (key length, value length, key, value), then the 256 hash tables of
// (hash, position) slots; numbers are 32-bit little-endian. Read-only
// once built, rebuilt whole and renamed into place, as Postfix does.
// Known limit: the reader loads the whole file into memory.

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
// as long as its entry count, so that probes end at an empty slot.
export function cdbImage(entries: Iterable<[Buffer, Buffer]>): Buffer {
  const records: Buffer[] = [];
  const buckets: Array<Array<[number, number]>> = Array.from(
    { length: 256 },
    () => [],
  );
  let pos = HEADER_SIZE;
  for (const [key, value] of entries) {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(key.length, 0);
    head.writeUInt32LE(value.length, 4);
    records.push(head, key, value);
    const h = cdbHash(key);
    buckets[h & 255].push([h, pos]);
    pos += 8 + key.length + value.length;
  }
  const header = Buffer.alloc(HEADER_SIZE);
  const tables = buckets.map((bucket, i) => {
    const table = hashTable(bucket);
    header.writeUInt32LE(pos, i * 8);
    header.writeUInt32LE(table.length / 8, i * 8 + 4);
    pos += table.length;
    return table;
  });
  if (pos > MAX_SIZE) throw new Error('cdb file would exceed 4 GB');
  return Buffer.concat([header, ...records, ...tables]);
}

function hashTable(bucket: Array<[number, number]>): Buffer {
  const slots = bucket.length * 2;
  const table = Buffer.alloc(slots * 8);
  for (const [h, recordPos] of bucket) {
    let slot = (h >>> 8) % slots;
    while (table.readUInt32LE(slot * 8 + 4) !== 0) slot = (slot + 1) % slots;
    table.writeUInt32LE(h, slot * 8);
    table.writeUInt32LE(recordPos, slot * 8 + 4);
  }
  return table;
}

async function cdbBuild(
  file: string,
  entries: Map<string, string>,
  options: WriterOptions,
): Promise<void> {
  const encoded = [...entries].map(([key, value]): [Buffer, Buffer] => [
    encodeText(key, options.nul),
    encodeText(value, options.nul),
  ]);
  const temp = `${file}.${process.pid}.tmp`;
  writeDurably(temp, cdbImage(encoded), options.mode ?? 0o644);
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
