// Tests of the LMDB format 1 reader and writer against each other, on
// files in a temporary folder (test/tables_postmap_test.ts checks both
// against Postfix's own liblmdb when Debian's Postfix is at hand).

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LmdbReader } from './lmdb_reader';
import { lmdbImage, LmdbWriteError } from './lmdb_writer';
import { fileDataFormat } from './dict_lmdb';
import { DictError, dictOpen } from './dict';
import { initLog } from '../log/log';

initLog({ processName: 'lmdb_reader_test', sinks: [] });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmdbr-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

// Enough entries for a tree of several levels, some on overflow pages.
function value(i: number): string {
  return (i % 97 === 0 ? 'x'.repeat(6000) : 'v') + i;
}

function writeTable(file: string, count: number): void {
  const entries: Array<[Buffer, Buffer]> = [];
  for (let i = 0; i < count; i++)
    entries.push([Buffer.from(`key${i}\0`), Buffer.from(`${value(i)}\0`)]);
  fs.writeFileSync(file, lmdbImage(entries));
}

test('does find every key and big value when the tree has several levels', () => {
  const file = path.join(dir, 'big.lmdb');
  writeTable(file, 20000);
  const reader = new LmdbReader(file);
  for (let i = 0; i < 20000; i += 13)
    assert.equal(
      reader.get(Buffer.from(`key${i}\0`))?.toString(),
      `${value(i)}\0`,
    );
  assert.equal(reader.get(Buffer.from('key20000\0')), undefined);
  assert.equal(reader.get(Buffer.from('')), undefined);
  const keys = [...reader.entries()].map(([key]) => key);
  assert.equal(keys.length, 20000);
  for (let i = 1; i < keys.length; i++)
    assert.ok(Buffer.compare(keys[i - 1], keys[i]) < 0);
  reader.close();
});

test('does write data format 1 with 4096-byte pages', () => {
  const file = path.join(dir, 'format.lmdb');
  writeTable(file, 1);
  assert.equal(fileDataFormat(file), 1);
  assert.equal(fs.statSync(file).size % 4096, 0);
});

test('does read an empty table when no entries were written', () => {
  const file = path.join(dir, 'empty.lmdb');
  fs.writeFileSync(file, lmdbImage([]));
  const reader = new LmdbReader(file);
  assert.equal(reader.get(Buffer.from('a')), undefined);
  assert.deepEqual([...reader.entries()], []);
  reader.close();
});

test('does refuse keys that liblmdb would refuse', () => {
  assert.throws(
    () => lmdbImage([[Buffer.alloc(512, 97), Buffer.from('v')]]),
    LmdbWriteError,
  );
});

test('does leave no lock file when a table is read', async () => {
  const name = path.join(dir, 'nolock');
  writeTable(`${name}.lmdb`, 10);
  const dict = dictOpen(`lmdb:${name}`);
  assert.equal(await dict.lookup('key3'), 'v3');
  dict.close();
  assert.equal(fs.existsSync(`${name}.lmdb-lock`), false);
});

test('does refuse a file in LMDB data format 2', () => {
  const name = path.join(dir, 'other');
  const head = Buffer.alloc(8192);
  head.writeUInt32LE(0xbeefc0de, 24);
  head.writeUInt32LE(2, 28);
  fs.writeFileSync(`${name}.lmdb`, head);
  assert.throws(() => dictOpen(`lmdb:${name}`), /LMDB data format 2/);
});

test('does refuse a file that is not LMDB at all', () => {
  const name = path.join(dir, 'junk');
  fs.writeFileSync(`${name}.lmdb`, Buffer.alloc(8192, 7));
  assert.throws(() => dictOpen(`lmdb:${name}`), DictError);
});
