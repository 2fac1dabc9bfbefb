// Tests of queue ID forms: encoding, parsing and the hash key that
// chooses a hashed subdirectory.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  isQueueId,
  longQueueId,
  parseQueueId,
  queueIdHashKey,
  shortQueueId,
} from './queue_id';

test('does five hex digits of microseconds then the inode when short', () => {
  const cases: Array<[number, number, string]> = [
    [0x4f9d6, 0x2a1f3, '4F9D62A1F3'],
    [5, 1, '000051'],
    [999999, 0xabcdef, 'F423FABCDEF'],
  ];
  for (const [usec, inode, want] of cases)
    assert.equal(shortQueueId(usec, inode), want);
});

test('does decode Postfix example long ID and encode it back', () => {
  const parts = parseQueueId('3Pt2mN2VXxznjll');
  assert.deepEqual(parts, {
    long: true,
    seconds: 1300631508,
    usec: 353025,
    inode: 5536956n,
  });
  assert.equal(longQueueId(1300631508, 353025, 5536956), '3Pt2mN2VXxznjll');
});

test('does pad long ID fields when values are small', () => {
  assert.equal(longQueueId(1, 2, 3), '0000010002z3');
});

test('does never put z in the inode part when long', () => {
  for (let inode = 0; inode < 5000; inode++) {
    const id = longQueueId(1700000000, 123456, inode);
    assert.equal(id.indexOf('z'), id.lastIndexOf('z'), id);
  }
});

// Seconds and microseconds are base 52, whose last digit is "z": such an
// ID has a "z" before the separator (seen in a test run: 4jgHrX2zmjzKD9S).
test('does accept and parse a long ID with z in its time part', () => {
  const id = longQueueId(1796292509, 2 * 52 ** 3 + 51 * 52 ** 2 + 7, 123456);
  assert.match(id, /^\w{6}2z\w\wz/);
  assert.ok(isQueueId(id), id);
  assert.deepEqual(parseQueueId(id), {
    long: true,
    seconds: 1796292509,
    usec: 2 * 52 ** 3 + 51 * 52 ** 2 + 7,
    inode: 123456n,
  });
  assert.ok(isQueueId('4jgHrX2zmjzKD9S'));
});

test('does accept both forms and reject others when validating', () => {
  const table: Array<[string, boolean]> = [
    ['4F9D62A1F3', true],
    ['3Pt2mN2VXxznjll', true],
    ['4f9d62a1f3', false],
    ['4F9D6', false],
    ['../etc/passwd', false],
    ['3Pt2mN2VXxzn', true],
    ['3Pt2mN2VXxzz', false],
    ['', false],
  ];
  for (const [id, ok] of table) assert.equal(isQueueId(id), ok, id);
});

test('does hash long IDs by their microseconds in hex', () => {
  assert.equal(queueIdHashKey('4F9D62A1F3'), '4F9D62A1F3');
  assert.equal(queueIdHashKey('3Pt2mN2VXxznjll'), '56301');
});
