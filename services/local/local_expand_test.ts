// $name expansion as forward_path, luser_relay and mailbox_command use it.

import test from 'node:test';
import assert from 'node:assert/strict';
import { localExpand } from './local_expand';

const VARS = { home: '/home/bob', user: 'bob', extension: '', evil: 'a;b c' };

const CASES: Array<[string, string, boolean]> = [
  ['$home/.forward', '/home/bob/.forward', false],
  ['${home}/x', '/home/bob/x', false],
  ['$(user)', 'bob', false],
  ['.forward${extension}', '.forward', true],
  ['${extension?+}$user', 'bob', false],
  ['${extension:none}', 'none', false],
  ['$$user', '$user', false],
  ['$evil', 'a_b_c', false],
];

for (const [template, text, undefinedUsed] of CASES) {
  test(`does expand "${template}" to "${text}"`, () => {
    assert.deepEqual(localExpand(template, VARS), { text, undefinedUsed });
  });
}
