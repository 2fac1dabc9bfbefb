// Unit tests of virtual(8)'s mailbox lookup: the keys tried, Maildir or
// mbox from the map value, and the configuration errors that defer.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Maps } from '../../packages/tables/dict';
import { findMailbox, lookupKeys, type VirtualTables } from './virtual_mailbox';

const KEYS: Array<[string, string, string[]]> = [
  ['Ann@V.Example', '', ['ann@v.example', '@v.example']],
  [
    'ann+box@v.example',
    '+',
    ['ann+box@v.example', 'ann@v.example', '@v.example'],
  ],
  [
    'ann-box@v.example',
    '+-',
    ['ann-box@v.example', 'ann@v.example', '@v.example'],
  ],
  ['+box@v.example', '+', ['+box@v.example', '@v.example']],
];

for (const [address, delim, keys] of KEYS)
  test(`does look up ${keys.join(', ')} for ${address}`, () => {
    assert.deepEqual(lookupKeys(address, delim), keys);
  });

function tables(
  t: test.TestContext,
  uids = 'static:5000',
  minimumUid = 100,
): VirtualTables {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmap-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'map');
  fs.writeFileSync(
    file,
    'ann@v.example v/ann/\nbob@v.example v/bob\n@w.example w/all/\n' +
      'up@v.example ../etc/x\n',
  );
  return {
    mailboxes: new Maps(`texthash:${file}`),
    uids: new Maps(uids),
    gids: new Maps('static:6000'),
    base: '/base',
    minimumUid,
    recipientDelimiter: '+',
  };
}

const FOUND: Array<[string, string, boolean]> = [
  ['ann@v.example', '/base/v/ann', true],
  ['ann+x@v.example', '/base/v/ann', true],
  ['bob@v.example', '/base/v/bob', false],
  ['zed@w.example', '/base/w/all', true],
];

for (const [rcpt, where, maildir] of FOUND)
  test(`does find ${where} for ${rcpt}`, async (t) => {
    const box = await findMailbox(tables(t), rcpt);
    assert.ok(!('status' in box));
    assert.deepEqual(
      [box.path, box.maildir, box.rights.uid, box.rights.gid],
      [where, maildir, 5000, 6000],
    );
  });

const FAILED: Array<[string, string, number, string, string]> = [
  ['an unknown user', 'static:5000', 100, 'nobody@v.example', '5.1.1'],
  [
    'a uid under virtual_minimum_uid',
    'static:50',
    100,
    'ann@v.example',
    '4.3.0',
  ],
  ['no uid', '', 100, 'ann@v.example', '4.3.0'],
  ['a bad uid', 'static:abc', 100, 'ann@v.example', '4.3.0'],
  ['a path out of the base', 'static:5000', 100, 'up@v.example', '4.3.0'],
];

for (const [what, uids, min, rcpt, dsn] of FAILED)
  test(`does answer ${dsn} for ${what}`, async (t) => {
    const box = await findMailbox(tables(t, uids, min), rcpt);
    assert.ok('status' in box);
    assert.equal(box.dsn, dsn);
  });
