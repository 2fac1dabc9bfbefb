// Tests of the format 1 LMDB reader and the format checks, on files the
// lmdb package writes in a temporary folder.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open } from 'lmdb';
import { LmdbReader } from './lmdb_reader';
import { fileDataFormat, LIB_DATA_FORMAT } from './dict_lmdb';
import { dictOpen } from './dict';
import { initLog } from '../log/log';

initLog({ processName: 'lmdb_reader_test', sinks: [] });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmdbr-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const V1 = LIB_DATA_FORMAT === 1;
const NEEDS_V1 = V1 ? false : 'lmdb writes format 2: run lmdb_data_v1.sh';

// Enough entries for a tree of several levels, some on overflow pages.
function value(i: number): string {
  return (i % 97 === 0 ? 'x'.repeat(6000) : 'v') + i;
}

async function writeTable(file: string, count: number): Promise<void> {
  const db = open<Buffer, Buffer>({
    path: file,
    noSubdir: true,
    encoding: 'binary',
    keyEncoding: 'binary',
    overlappingSync: false,
  });
  db.transactionSync(() => {
    for (let i = 0; i < count; i++)
      db.putSync(Buffer.from(`key${i}\0`), Buffer.from(`${value(i)}\0`));
  });
  await db.close();
  fs.rmSync(`${file}-lock`, { force: true });
}

test(
  'does find every key and big value when the tree has several levels',
  { skip: NEEDS_V1 },
  async () => {
    const file = path.join(dir, 'big.lmdb');
    await writeTable(file, 20000);
    const reader = new LmdbReader(file);
    for (let i = 0; i < 20000; i += 13)
      assert.equal(
        reader.get(Buffer.from(`key${i}\0`))?.toString(),
        `${value(i)}\0`,
      );
    assert.equal(reader.get(Buffer.from('key20000\0')), undefined);
    assert.equal([...reader.entries()].length, 20000);
    reader.close();
  },
);

test(
  'does write data format 1 when the lmdb package is built for Postfix',
  { skip: NEEDS_V1 },
  async () => {
    const file = path.join(dir, 'format.lmdb');
    await writeTable(file, 1);
    assert.equal(fileDataFormat(file), 1);
  },
);

test(
  'does leave no lock file when a format 1 table is read',
  { skip: NEEDS_V1 },
  async () => {
    const name = path.join(dir, 'nolock');
    await writeTable(`${name}.lmdb`, 10);
    const dict = dictOpen(`lmdb:${name}`);
    assert.equal(await dict.lookup('key3'), 'v3');
    dict.close();
    assert.equal(fs.existsSync(`${name}.lmdb-lock`), false);
  },
);

test(
  'does refuse a file in a data format the library cannot read',
  { skip: V1 ? false : 'library reads format 2' },
  () => {
    const name = path.join(dir, 'other');
    const head = Buffer.alloc(8192);
    head.writeUInt32LE(0xbeefc0de, 24);
    head.writeUInt32LE(2, 28);
    fs.writeFileSync(`${name}.lmdb`, head);
    assert.throws(() => dictOpen(`lmdb:${name}`), /LMDB data format 2/);
  },
);

test('does refuse a file that is not LMDB at all', () => {
  const name = path.join(dir, 'junk');
  fs.writeFileSync(`${name}.lmdb`, Buffer.alloc(8192, 7));
  assert.throws(() => dictOpen(`lmdb:${name}`), /LMDB data format unknown/);
});
