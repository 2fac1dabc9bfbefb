// SECURITY.md's queue modes, checked as an administrator would: after a
// directory of the queue is opened up, `postfix check` names it with the
// mode Postfix expects, and `postfix set-permissions` puts it back.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeInstance } from './harness';

// [queue directory, a mode that opens it up, the mode it must have].
const MODES: Array<[string, number, string]> = [
  ['public', 0o777, '0710'],
  ['private', 0o755, '0700'],
  ['maildrop', 0o777, '0730'],
  ['incoming', 0o755, '0700'],
  ['deferred', 0o705, '0700'],
  ['corrupt', 0o777, '0700'],
];

test('postfix check does name each queue directory with a wrong mode', async () => {
  const mta = await makeInstance({ start: false });
  try {
    const clean = mta.postfix('check');
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(clean.stderr, '');
    for (const [dir, mode] of MODES)
      fs.chmodSync(path.join(mta.queueDir, dir), mode);
    const r = mta.postfix('check');
    for (const [dir, mode, want] of MODES) {
      const file = path.join(mta.queueDir, dir);
      const line =
        `postfix/postfix-script: warning: ${file}: bad permissions: ` +
        `0${mode.toString(8)} (expected ${want})`;
      assert.ok(r.stderr.split('\n').includes(line), `${line}\n${r.stderr}`);
    }
    assert.equal(mta.postfix('set-permissions').code, 0);
    for (const [dir, , want] of MODES) {
      const st = fs.statSync(path.join(mta.queueDir, dir));
      assert.equal('0' + (st.mode & 0o7777).toString(8), want, dir);
    }
    assert.equal(mta.postfix('check').stderr, '');
  } finally {
    await mta.destroy();
  }
});
