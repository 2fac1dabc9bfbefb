// Tests of the typed conversions (values.ts): times with units, numbers,
// booleans, bounds and list splitting, with Postfix's wording.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  checkBounds,
  checkTimeBounds,
  parseBool,
  parseInt10,
  parseTime,
  splitList,
} from './values';

const TIMES: [string, 's' | 'h' | 'd', number][] = [
  ['30', 's', 30],
  ['30s', 'h', 30],
  ['2m', 's', 120],
  ['3h', 's', 10800],
  ['5d', 's', 432000],
  ['1w', 's', 604800],
  ['2', 'h', 7200],
  ['5', 'd', 432000],
];

for (const [text, unit, seconds] of TIMES) {
  test(`converts time ${text} with default unit ${unit}`, () => {
    assert.equal(parseTime('t', text, unit), seconds);
  });
}

for (const text of ['', 'soon', '1x', '1h30m', '-5s', '1.5h']) {
  test(`rejects time "${text}" with Postfix's wording`, () => {
    assert.throws(() => parseTime('max_idle', text), {
      message: `parameter max_idle: bad time value or unit: ${text}`,
    });
  });
}

test('rejects a non-number with bad numerical configuration', () => {
  assert.throws(() => parseInt10('message_size_limit', 'ten'), {
    message: 'bad numerical configuration: message_size_limit = ten',
  });
  assert.equal(parseInt10('x', '-3'), -3);
});

test('accepts yes and no in any case and nothing else', () => {
  assert.equal(parseBool('b', 'YES'), true);
  assert.equal(parseBool('b', 'no'), false);
  assert.throws(() => parseBool('biff', 'true'), {
    message: 'bad boolean configuration: biff = true',
  });
});

test('checks bounds with the parameter name', () => {
  assert.throws(() => checkBounds('hash_queue_depth', 0, 1, 10), {
    message: 'invalid hash_queue_depth parameter value 0 < 1',
  });
  assert.throws(() => checkBounds('hash_queue_depth', 11, 1, 10), {
    message: 'invalid hash_queue_depth parameter value 11 > 10',
  });
  checkBounds('x', 5, 1, 10);
});

test('treats a bound of 0 as no bound, as Postfix does', () => {
  checkBounds('x', -5, 0, 0);
  checkTimeBounds('x', 1e9, 0, 0);
});

test('words time bounds as Postfix does', () => {
  assert.throws(() => checkTimeBounds('ipc_idle', 0, 1, 10), {
    message: 'invalid ipc_idle: 0 (min 1)',
  });
  assert.throws(() => checkTimeBounds('ipc_idle', 11, 1, 10), {
    message: 'invalid ipc_idle: 11 (max 10)',
  });
});

const LISTS: [string, string[]][] = [
  ['a, b,c  d', ['a', 'b', 'c', 'd']],
  ['  ', []],
  [
    'hash:/etc/aliases,\tnis:mail.aliases',
    ['hash:/etc/aliases', 'nis:mail.aliases'],
  ],
  [
    'CONNECT GET regexp:{{/^[^A-Z]/ Bogus}}',
    ['CONNECT', 'GET', 'regexp:{{/^[^A-Z]/ Bogus}}'],
  ],
  ['{ a b }, c', ['{ a b }', 'c']],
];

for (const [text, want] of LISTS) {
  test(`splits list "${text}" keeping {} groups`, () => {
    assert.deepEqual(splitList(text), want);
  });
}
