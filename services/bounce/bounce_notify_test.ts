// Tests for bounce_notify.ts: which records a notice lists, by the
// recipients' RFC 3461 NOTIFY flags.

import test from 'node:test';
import assert from 'node:assert/strict';
import { DSN_NOTIFY } from '../../packages/queue/delivery_trace';
import type { StatusRecord } from '../../packages/queue/status_log';
import { asked } from './bounce_notify';

function record(notifyFlags: number): StatusRecord {
  return {
    recipient: 'bob@example.com',
    originalRecipient: 'bob@example.com',
    offset: 1,
    dsnOrigRcpt: '',
    notifyFlags,
    status: '5.1.1',
    action: 'failed',
    diagType: '',
    diagText: '',
    mtaType: '',
    mtaMname: '',
    reason: 'unknown user',
  };
}

const { NEVER, SUCCESS, FAILURE, DELAY } = DSN_NOTIFY;

// [NOTIFY flags, gets a failure notice, gets a delay warning]
const CASES: Array<[string, number, boolean, boolean]> = [
  ['no NOTIFY', 0, true, true],
  ['NOTIFY=NEVER', NEVER, false, false],
  ['NOTIFY=SUCCESS', SUCCESS, false, false],
  ['NOTIFY=FAILURE', FAILURE, true, false],
  ['NOTIFY=DELAY', DELAY, false, true],
  ['NOTIFY=SUCCESS,FAILURE,DELAY', SUCCESS | FAILURE | DELAY, true, true],
];

for (const [what, flags, failure, delay] of CASES)
  test(`does list the recipient as the sender asked with ${what}`, () => {
    assert.equal(asked([record(flags)], FAILURE).length, failure ? 1 : 0);
    assert.equal(asked([record(flags)], DELAY).length, delay ? 1 : 0);
  });
