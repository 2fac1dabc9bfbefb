// Tests of dictOpen and Maps over the simple table types, on real files
// in a temporary folder.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DICT_FLAG, DictError, Maps, dictOpen } from './dict';
import { initLog } from '../log/log';

initLog({ processName: 'dict_test', sinks: [] });

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dict-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const INLINE_CASES = [
  { spec: 'inline:{ a=1, b=2 }', key: 'a', want: '1' },
  { spec: 'inline:{ a=1, b=2 }', key: 'B', want: '2' },
  { spec: 'inline:{ {k = v with space} }', key: 'k', want: 'v with space' },
  { spec: 'inline:{ a=1 }', key: 'c', want: undefined },
  { spec: 'static:OK', key: 'anything', want: 'OK' },
  { spec: 'static:{ text with space }', key: 'x', want: 'text with space' },
];

for (const c of INLINE_CASES) {
  test(`does return ${c.want} when ${c.spec} is asked ${c.key}`, async () => {
    const dict = dictOpen(c.spec);
    assert.equal(await dict.lookup(c.key), c.want);
    dict.close();
  });
}

test('does reject inline elements without "=" when opening', () => {
  assert.throws(() => dictOpen('inline:{ a }'), DictError);
});

test('does name the type when it is unknown', () => {
  assert.throws(() => dictOpen('nosuch:x'), /unsupported dictionary type/);
});

test('does give Postfix wording when a file is missing', () => {
  assert.throws(
    () => dictOpen('texthash:/nonexistent/x'),
    /open \/nonexistent\/x: No such file or directory/,
  );
});

test('does read Postfix source syntax when texthash opens a file', async (t) => {
  const file = path.join(tempDir(t), 'map');
  fs.writeFileSync(
    file,
    [
      '# comment',
      'Example.COM   smtp:[relay.example]',
      '',
      'long  first',
      '  second',
      '"quoted key" value',
      'example.com dup',
    ].join('\n'),
  );
  const dict = dictOpen(`texthash:${file}`);
  assert.equal(await dict.lookup('EXAMPLE.com'), 'smtp:[relay.example]');
  assert.equal(await dict.lookup('long'), 'first second');
  assert.equal(await dict.lookup('quoted key'), 'value');
  dict.close();
});

test('does reread texthash when the file changes', async (t) => {
  const file = path.join(tempDir(t), 'map');
  fs.writeFileSync(file, 'a 1\n');
  const dict = dictOpen(`texthash:${file}`);
  assert.equal(await dict.lookup('a'), '1');
  fs.writeFileSync(file, 'a 22\n');
  const future = new Date(Date.now() + 5000);
  fs.utimesSync(file, future, future);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(await dict.lookup('a'), '22');
  dict.close();
});

test('does give the passwd line when unix:passwd.byname has the user', async () => {
  const dict = dictOpen('unix:passwd.byname');
  const line = await dict.lookup('root');
  assert.match(line ?? '', /^root:[^:]*:0:0:/);
  assert.equal(await dict.lookup('no-such-user-here'), undefined);
  dict.close();
});

test('does read the environment when environ is asked', async () => {
  process.env.DICT_TEST_VAR = 'hello';
  const dict = dictOpen('environ:');
  assert.equal(await dict.lookup('DICT_TEST_VAR'), 'hello');
  dict.close();
});

test('does open the inner table when proxy is asked', async () => {
  const dict = dictOpen('proxy:inline:{ a=b }');
  assert.equal(await dict.lookup('A'), 'b');
  dict.close();
});

test('does keep the key case when fold is false', async () => {
  const dict = dictOpen('inline:{ Ab=1 }', { fold: false });
  assert.equal(await dict.lookup('Ab'), '1');
  assert.equal(await dict.lookup('ab'), undefined);
  dict.close();
});

test('does return the first table that has the key when Maps searches', async () => {
  const maps = new Maps('inline:{ a=first } inline:{ a=second, b=2 }');
  assert.equal(await maps.lookup('a'), 'first');
  assert.equal(await maps.lookup('b'), '2');
  assert.equal(await maps.lookup('c'), undefined);
  assert.equal(await maps.lookup(''), undefined);
  maps.close();
});

test('does skip tables without the flag when Maps is given flags', async () => {
  const maps = new Maps('environ: inline:{ path=fixed }');
  process.env.path = 'env';
  assert.equal(await maps.lookup('path'), 'env');
  assert.equal(await maps.lookup('path', DICT_FLAG.FIXED), 'fixed');
  delete process.env.path;
  maps.close();
});

test('does fail lookups rather than throw when a Maps table is missing', async () => {
  const maps = new Maps('texthash:/nonexistent/file, inline:{ a=1 }');
  await assert.rejects(maps.lookup('a'), /No such file or directory/);
  maps.close();
});

test('does share one open table when the same spec is opened twice', async () => {
  const one = dictOpen('inline:{ x=1 }');
  const two = dictOpen('inline:{ x=1 }');
  one.close();
  assert.equal(await two.lookup('x'), '1');
  two.close();
});
