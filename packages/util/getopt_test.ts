// Tests of getopt: attached and separate values, bundles, where options
// end (sendmail, the queue commands), and options after operands
// (postmap, postalias).

import test from 'node:test';
import assert from 'node:assert/strict';
import { getopt, GetoptError, optionMap } from './getopt';

const SPEC = 'F:f:io:tv';

const CASES: Array<[string, string[], string[], string[]]> = [
  // name, argv, options as "name=value", operands
  ['attached value', ['-fsender@x'], ['f=sender@x'], []],
  ['separate value', ['-f', 'sender@x', 'rcpt'], ['f=sender@x'], ['rcpt']],
  ['-oi as o with i', ['-oi'], ['o=i'], []],
  ['-oem as o with em', ['-oem'], ['o=em'], []],
  ['a value with a space', ['-F', 'A B', 'r'], ['F=A B'], ['r']],
  ['bundled flags then value', ['-tif', 'me'], ['t=', 'i=', 'f=me'], []],
  ['-- ends options', ['-t', '--', '-v'], ['t='], ['-v']],
  ['first operand ends options', ['r', '-t'], [], ['r', '-t']],
  ['a lone - is an operand', ['-', '-t'], [], ['-', '-t']],
  ['repeated flags', ['-vv', '-v'], ['v=', 'v=', 'v='], []],
];

for (const [name, argv, options, operands] of CASES)
  test(`getopt parses ${name}`, () => {
    const got = getopt(argv, SPEC);
    assert.deepEqual(
      got.options.map((o) => `${o.name}=${o.value}`),
      options,
    );
    assert.deepEqual(got.operands, operands);
  });

test('getopt rejects an unknown letter when the spec lacks it', () => {
  assert.throws(() => getopt(['-x'], SPEC), GetoptError);
});

test('getopt rejects a missing value when the option is last', () => {
  assert.throws(() => getopt(['-f'], SPEC), /requires an argument -- 'f'/);
});

// Permuting, as postmap and postalias parse.
const PERMUTE_OPTS = 'c:d:fiq:s';

const PERMUTE_CASES = [
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

for (const c of PERMUTE_CASES) {
  test(`does parse ${c.argv.join(' ')} as glibc getopt does when permuting`, () => {
    const got = getopt(c.argv, PERMUTE_OPTS, 'permute');
    assert.deepEqual(Object.fromEntries(optionMap(got.options)), c.flags);
    assert.deepEqual(got.operands, c.operands);
  });
}

test('does name the letter when an option is unknown', () => {
  assert.throws(
    () => getopt(['-Z'], PERMUTE_OPTS, 'permute'),
    new GetoptError("invalid option -- 'Z'"),
  );
});

test('does complain when an argument is missing', () => {
  assert.throws(
    () => getopt(['-q'], PERMUTE_OPTS, 'permute'),
    /option requires an argument -- 'q'/,
  );
});
