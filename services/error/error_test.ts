// Unit tests of the error and retry agents' verdict from the nexthop.

import test from 'node:test';
import assert from 'node:assert/strict';
import { errorVerdict } from './error';

const CASES: Array<[string, boolean, string, string]> = [
  ['5.1.1 mailbox unavailable', false, '5.1.1', 'mailbox unavailable'],
  ['mailbox unavailable', false, '5.0.0', 'mailbox unavailable'],
  ['4.2.0 try tomorrow', false, '5.2.0', 'try tomorrow'],
  ['4.2.0 try tomorrow', true, '4.2.0', 'try tomorrow'],
  ['5.7.1 go away', true, '4.7.1', 'go away'],
  ['no code here', true, '4.0.0', 'no code here'],
  ['', false, '5.0.0', 'unknown mail transport error'],
  ['5.1.1', false, '5.1.1', 'unknown mail transport error'],
];

for (const [nexthop, retry, dsn, reason] of CASES)
  test(`does answer ${dsn} (${reason}) for ${JSON.stringify(nexthop)} as ${retry ? 'retry' : 'error'}`, () => {
    assert.deepEqual(errorVerdict(nexthop, retry), { dsn, reason });
  });
