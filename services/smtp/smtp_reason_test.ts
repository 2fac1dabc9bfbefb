// Unit tests of the reply texts and DSN codes the smtp client logs.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  connectReason,
  dsnAction,
  replyDsn,
  replyText,
  saidReason,
} from './smtp_reason';

const DSN: Array<[string, string]> = [
  ['550 5.1.1 <u@example.net>: User unknown', '5.1.1'],
  ['451 4.3.0 try later', '4.3.0'],
  ['550 no code', '5.0.0'],
  ['421-4.7.0 busy\n421 4.7.0 later', '4.7.0'],
  ['550 4.1.1 class mismatch', '5.0.0'],
  ['hello', '4.5.0'],
  ['', '4.5.0'],
];

for (const [reply, dsn] of DSN)
  test(`does take dsn ${dsn} from ${JSON.stringify(reply)}`, () => {
    assert.equal(replyDsn(reply), dsn);
  });

test('does join a multi-line reply into one line', () => {
  assert.equal(
    replyText('550-5.1.1 first\n550-second\n550 third'),
    '550 5.1.1 first second third',
  );
});

test('does cut a very long reply', () => {
  assert.equal(replyText('250 ' + 'x'.repeat(5000)).length, 1003);
});

test('does word a refusal as Postfix', () => {
  assert.deepEqual(
    saidReason(
      'mx.example.net[192.0.2.1]',
      '550 5.1.1 <u@example.net>: Recipient address rejected: User unknown',
      'RCPT TO',
    ),
    {
      dsn: '5.1.1',
      reason:
        'host mx.example.net[192.0.2.1] said: 550 5.1.1 <u@example.net>: Recipient address rejected: User unknown (in reply to RCPT TO command)',
    },
  );
  assert.deepEqual(connectReason('h[192.0.2.1]:25', 'ECONNREFUSED'), {
    dsn: '4.4.1',
    reason: 'connect to h[192.0.2.1]:25: Connection refused',
  });
});

test('does map DSN classes to actions', () => {
  assert.equal(dsnAction('2.0.0', false), 'relayed');
  assert.equal(dsnAction('2.0.0', true), 'delivered');
  assert.equal(dsnAction('4.4.1', false), 'delayed');
  assert.equal(dsnAction('5.1.1', true), 'failed');
});
