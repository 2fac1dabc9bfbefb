// Tests of the cleanup client's status table; the protocol itself is
// tested against the real cleanup in services/cleanup.

import test from 'node:test';
import assert from 'node:assert/strict';
import { CLEANUP_STAT, cleanupStatusReply } from './cleanup_client';

test('does map status bits to Postfix replies, most serious first', () => {
  const table: Array<[number, string | undefined]> = [
    [0, undefined],
    [CLEANUP_STAT.DEFER, '451 4.7.1 service unavailable'],
    [CLEANUP_STAT.BAD, '451 4.3.0 internal protocol error'],
    [CLEANUP_STAT.WRITE, '451 4.3.0 queue file write error'],
    [CLEANUP_STAT.SIZE, '552 5.3.4 message file too big'],
    [CLEANUP_STAT.HOPS, '554 5.4.0 too many hops'],
    [CLEANUP_STAT.RCPT, '550 5.1.0 no recipients specified'],
    [CLEANUP_STAT.CONT, '550 5.7.1 message content rejected'],
    [CLEANUP_STAT.NOPERM, '550 5.7.1 service denied'],
    [CLEANUP_STAT.BARE_LF, '521 5.5.2 bare <LF> received'],
    [CLEANUP_STAT.SIZE | CLEANUP_STAT.WRITE, '552 5.3.4 message file too big'],
    [CLEANUP_STAT.DEFER | CLEANUP_STAT.HOPS, '451 4.7.1 service unavailable'],
  ];
  for (const [status, want] of table) {
    const reply = cleanupStatusReply(status);
    const got = reply && `${reply.code} ${reply.dsn} ${reply.text}`;
    assert.equal(got, want, String(status));
  }
});
