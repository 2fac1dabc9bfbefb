// Tests of the lmdb: and cdb: file tables and the hash:/btree: redirect,
// built with TableBuild on real files in a temporary folder.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DictError, dictOpen } from './dict';
import { indexedType } from './dict_indexed';
import { TableBuild } from './dict_build';
import { cdbFind, cdbImage } from './dict_cdb';
import { LmdbReader } from './lmdb_reader';
import { lmdbImage } from './lmdb_writer';
import { initLog } from '../log/log';

const logged: string[] = [];
initLog({ processName: 'dict_indexed_test', sinks: [(l) => logged.push(l)] });

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'indexed-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function build(type: string, name: string, entries: [string, string][]) {
  const kind = indexedType(type, name)!;
  const table = new TableBuild(kind, name, 'create', { nul: true });
  for (const [key, value] of entries) table.put(key, value);
  await table.commit();
}

for (const type of ['lmdb', 'cdb']) {
  test(`does find built entries when ${type}: is opened`, async (t) => {
    const name = path.join(tempDir(t), 'map');
    await build(type, name, [
      ['example.com', 'smtp:[relay]'],
      ['user@example.com', 'x'],
    ]);
    assert.ok(fs.existsSync(`${name}.${type}`));
    const dict = dictOpen(`${type}:${name}`);
    assert.equal(await dict.lookup('Example.COM'), 'smtp:[relay]');
    assert.equal(await dict.lookup('user@example.com'), 'x');
    assert.equal(await dict.lookup('nope'), undefined);
    dict.close();
  });

  test(`does see a rebuilt file when ${type}: is rebuilt`, async (t) => {
    const name = path.join(tempDir(t), 'map');
    await build(type, name, [['a', '1']]);
    const dict = dictOpen(`${type}:${name}`);
    assert.equal(await dict.lookup('a'), '1');
    await build(type, name, [['a', '2']]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal(await dict.lookup('a'), '2');
    dict.close();
  });

  test(`does apply updates and deletes when ${type}: is updated`, async (t) => {
    const name = path.join(tempDir(t), 'map');
    await build(type, name, [
      ['a', '1'],
      ['b', '2'],
    ]);
    const kind = indexedType(type, name)!;
    const update = new TableBuild(kind, name, 'update', { nul: true });
    assert.equal(update.get('a'), '1');
    update.put('c', '3');
    assert.equal(update.remove('b'), true);
    assert.equal(update.remove('zz'), false);
    await update.commit();
    const reader = kind.openReader(`${name}.${type}`);
    assert.deepEqual(
      new Map(reader.entries()),
      new Map([
        ['a', '1'],
        ['c', '3'],
      ]),
    );
    reader.close();
  });
}

test('does store keys and values with a trailing NUL when lmdb is built', async (t) => {
  const name = path.join(tempDir(t), 'map');
  await build('lmdb', name, [['key', 'value']]);
  const reader = new LmdbReader(`${name}.lmdb`);
  const raw = [...reader.entries()].map(([key, value]) => [
    key.toString('latin1'),
    value.toString('latin1'),
  ]);
  reader.close();
  assert.deepEqual(raw, [['key\0', 'value\0']]);
});

test('does find keys without NUL when another program built the lmdb file', async (t) => {
  const name = path.join(tempDir(t), 'map');
  fs.writeFileSync(
    `${name}.lmdb`,
    lmdbImage([[Buffer.from('plain'), Buffer.from('yes')]]),
  );
  const dict = dictOpen(`lmdb:${name}`);
  assert.equal(await dict.lookup('plain'), 'yes');
  dict.close();
});

test('does open the lmdb file and say so when hash: is asked', async (t) => {
  const name = path.join(tempDir(t), 'aliases');
  await build('hash', name, [['root', 'admin']]);
  assert.ok(fs.existsSync(`${name}.lmdb`));
  const dict = dictOpen(`hash:${name}`);
  assert.equal(await dict.lookup('root'), 'admin');
  dict.close();
  assert.ok(
    logged.some((l) =>
      l.includes(
        `warning: hash:${name}: Berkeley DB is not available in this build; using lmdb:${name} instead`,
      ),
    ),
  );
});

test('does say "open database" when the indexed file is missing', () => {
  assert.throws(
    () => dictOpen('lmdb:/nonexistent/map'),
    /open database \/nonexistent\/map\.lmdb: No such file or directory/,
  );
});

test('does follow the public cdb layout when a small image is made', () => {
  const image = cdbImage([['one', '1']], false);
  // 2048 header + 8 + 3 + 1 record + one table of two slots.
  assert.equal(image.length, 2048 + 12 + 16);
  assert.equal(cdbFind(image, Buffer.from('one'))?.toString(), '1');
  assert.equal(cdbFind(image, Buffer.from('two')), undefined);
});

test('does find every key when many cdb keys share buckets', () => {
  const entries: [string, string][] = [];
  for (let i = 0; i < 2000; i++) entries.push([`k${i}`, `v${i}`]);
  const image = cdbImage(entries, false);
  for (let i = 0; i < 2000; i += 37)
    assert.equal(cdbFind(image, Buffer.from(`k${i}`))?.toString(), `v${i}`);
});

test('does reject with DictError when a cdb file is corrupt', async (t) => {
  const name = path.join(tempDir(t), 'corrupt');
  const image = Buffer.alloc(4096, 0xff);
  fs.writeFileSync(`${name}.cdb`, image);
  const dict = dictOpen(`cdb:${name}`);
  await assert.rejects(dict.lookup('x'), DictError);
  dict.close();
});
