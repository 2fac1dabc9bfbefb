// Tests of the getopt(3) parser that postmap and postalias use.

import test from 'node:test';
import assert from 'node:assert/strict';
import { getopt, GetoptError } from './getopt';

const OPTS = 'c:d:fiq:s';

const CASES = [
  { argv: ['-q', 'key', 'map'], flags: { q: ['key'] }, operands: ['map'] },
  { argv: ['-qkey', 'map'], flags: { q: ['key'] }, operands: ['map'] },
  {
    argv: ['-fiqkey', 'map'],
    flags: { f: [''], i: [''], q: ['key'] },
    operands: ['map'],
  },
  { argv: ['-q', '-', 'map'], flags: { q: ['-'] }, operands: ['map'] },
  { argv: ['map', '-s'], flags: { s: [''] }, operands: ['map'] },
  { argv: ['-d', 'a', '-d', 'b'], flags: { d: ['a', 'b'] }, operands: [] },
  { argv: ['--', '-s'], flags: {}, operands: ['-s'] },
];

for (const c of CASES) {
  test(`does parse ${c.argv.join(' ')} as getopt does`, () => {
    const got = getopt(c.argv, OPTS);
    assert.deepEqual(Object.fromEntries(got.flags), c.flags);
    assert.deepEqual(got.operands, c.operands);
  });
}

test('does name the letter when an option is unknown', () => {
  assert.throws(
    () => getopt(['-Z'], OPTS),
    new GetoptError("invalid option -- 'Z'"),
  );
});

test('does complain when an argument is missing', () => {
  assert.throws(
    () => getopt(['-q'], OPTS),
    /option requires an argument -- 'q'/,
  );
});
