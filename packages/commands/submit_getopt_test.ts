// Tests of the POSIX getopt that sendmail and the queue commands use:
// attached and separate values, bundles, and where options end.

import test from 'node:test';
import assert from 'node:assert/strict';
import { getopt, GetoptError } from './submit_getopt';

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
