// Splitting alias, .forward and :include: values into destinations.

import test from 'node:test';
import assert from 'node:assert/strict';
import { classify, splitDestinations } from './local_token';

const SPLITS: Array<[string, string[]]> = [
  ['bob, carol', ['bob', 'carol']],
  ['"|/usr/bin/vacation -a x, y", bob', ['|/usr/bin/vacation -a x, y', 'bob']],
  ['bob\ncarol\n# note\n', ['bob', 'carol']],
  ['"a\\"b"', ['a"b']],
  [' , ', []],
];

for (const [text, want] of SPLITS) {
  test(`does split ${JSON.stringify(text)}`, () => {
    assert.deepEqual(splitDestinations(text), want);
  });
}

const KINDS: Array<[string, string]> = [
  ['|procmail', 'command'],
  [':include:/etc/list', 'include'],
  [':INCLUDE:/etc/list', 'include'],
  ['/var/log/mail', 'file'],
  ['/var/mail/dir/', 'file'],
  ['<bob@example.com>', 'address'],
  ['\\bob', 'address'],
];

for (const [item, kind] of KINDS) {
  test(`does take ${JSON.stringify(item)} as ${kind}`, () => {
    assert.equal(classify(item).kind, kind);
  });
}
