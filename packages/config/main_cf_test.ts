// Tests of main.cf editing (main_cf.ts) as postconf -e, -X and -# do it:
// comments and other lines stay, logical lines are replaced whole.

import test from 'node:test';
import assert from 'node:assert/strict';
import { editMainCfText, MainCfEdit, parseMainCf } from './main_cf';

const ORIGINAL = [
  '# Site settings',
  'myhostname = old.example.com',
  '# the networks we trust',
  'mynetworks = 127.0.0.0/8,',
  '    10.0.0.0/8',
  'relayhost =',
  'myhostname = again.example.com',
  '',
].join('\n');

function edit(edits: [string, MainCfEdit][]): string {
  return editMainCfText(ORIGINAL, new Map(edits));
}

test('replaces a logical line and drops later duplicates', () => {
  const out = edit([['myhostname', { kind: 'set', value: 'new.example.com' }]]);
  assert.equal(
    out,
    [
      '# Site settings',
      'myhostname = new.example.com',
      '# the networks we trust',
      'mynetworks = 127.0.0.0/8,',
      '    10.0.0.0/8',
      'relayhost =',
      '',
    ].join('\n'),
  );
});

test('replaces all physical lines of a continued value', () => {
  const out = edit([['mynetworks', { kind: 'set', value: '192.0.2.0/24' }]]);
  assert.match(
    out,
    /# the networks we trust\nmynetworks = 192\.0\.2\.0\/24\nrelayhost =/,
  );
  assert.doesNotMatch(out, /10\.0\.0\.0/);
});

test('appends a name that is not yet set', () => {
  const out = edit([['relay_domains', { kind: 'set', value: 'a, b' }]]);
  assert.ok(out.startsWith(ORIGINAL));
  assert.ok(out.endsWith('relay_domains = a, b\n'));
});

test('removes every definition of a name', () => {
  const out = edit([['myhostname', { kind: 'remove' }]]);
  assert.doesNotMatch(out, /^myhostname/m);
  assert.match(out, /^# Site settings$/m);
});

test('comments out each physical line of a name', () => {
  const out = edit([['mynetworks', { kind: 'comment' }]]);
  assert.match(out, /\n#mynetworks = 127\.0\.0\.0\/8,\n#    10\.0\.0\.0\/8\n/);
  assert.equal(parseMainCf(out, 'main.cf').has('mynetworks'), false);
});
