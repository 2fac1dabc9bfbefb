// Tests for bounce_notice.ts: the RFC 3464 shape, the headers-only form,
// delay warnings, the -v/-bv and success reports, and the date format.

import test from 'node:test';
import assert from 'node:assert/strict';
import { buildNotice, mailDate, type NoticeKind } from './bounce_notice';

// Dates are written in the local zone, as Postfix's; the expected texts
// are in UTC.
process.env.TZ = 'UTC';

const RECORD = {
  recipient: 'bob@example.com',
  originalRecipient: 'bob',
  offset: 1,
  dsnOrigRcpt: '',
  notifyFlags: 0,
  status: '5.1.1',
  action: 'failed',
  diagType: 'smtp',
  diagText: '550 5.1.1 <bob@example.com>: User unknown',
  mtaType: 'dns',
  mtaMname: 'mx.example.com',
  reason: 'host mx.example.com said: 550 5.1.1 User unknown',
};

function notice(headersOnly: boolean): string {
  return buildNotice({
    queueId: 'ABC123',
    sender: 'alice@example.org',
    to: 'alice@example.org',
    myhostname: 'mx.test.example',
    myorigin: 'test.example',
    arrivalTime: 1700000000,
    envelopeId: 'env-1',
    records: [RECORD],
    content: ['Subject: hi', '', 'secret body'].map((l) => Buffer.from(l)),
    headersOnly,
    now: 1700000100,
    postmasterCopy: false,
  })
    .map((l) => l.toString())
    .join('\n');
}

test('writes the per-message and per-recipient DSN fields', () => {
  const text = notice(false);
  for (const line of [
    'Original-Envelope-Id: env-1',
    'X-Postfix-Sender: rfc822; alice@example.org',
    'Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)',
    '<bob@example.com> (expanded from <bob>): host mx.example.com said: 550 5.1.1 User unknown',
    'Remote-MTA: dns; mx.example.com',
    'Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: User unknown',
    'Content-Description: Undelivered Message',
    'secret body',
  ])
    assert.ok(text.split('\n').includes(line), line);
  assert.ok(text.endsWith('--ABC123.1700000100/mx.test.example--'));
});

test('returns only the headers when asked for headers only', () => {
  const text = notice(true);
  assert.ok(text.includes('Content-Type: text/rfc822-headers'));
  assert.ok(!text.includes('secret body'));
});

test('pads the day of month with a space as Postfix does', () => {
  assert.equal(mailDate(1764756000), 'Wed,  3 Dec 2025 10:00:00 +0000 (UTC)');
});

test('writes a delay warning with Action: delayed and headers only', () => {
  const text = buildNotice({
    queueId: 'ABC123',
    sender: 'alice@example.org',
    to: 'alice@example.org',
    myhostname: 'mx.test.example',
    myorigin: 'test.example',
    arrivalTime: 1700000000,
    envelopeId: '',
    records: [{ ...RECORD, status: '4.4.1', action: 'delayed' }],
    content: ['Subject: hi', '', 'secret body'].map((l) => Buffer.from(l)),
    headersOnly: true,
    now: 1700000100,
    postmasterCopy: false,
    delay: true,
  })
    .map((l) => l.toString())
    .join('\n');
  const lines = text.split('\n');
  for (const line of [
    'Subject: Delayed Mail (still being retried)',
    'Action: delayed',
    'Status: 4.4.1',
    'Content-Description: Delayed Message Headers',
    'Subject: hi',
  ])
    assert.ok(lines.includes(line), line);
  assert.ok(!text.includes('secret body'));
});

// [kind, record action, subject, Action: field] for the trace reports.
const REPORTS: Array<[NoticeKind, string, string, string]> = [
  ['success', 'delivered', 'Successful Mail Delivery Report', 'delivered'],
  ['success', 'relayed', 'Successful Mail Delivery Report', 'relayed'],
  ['verify', 'deliverable', 'Mail Delivery Status Report', 'deliverable'],
  ['verify', 'failed', 'Mail Delivery Status Report', 'failed'],
];

test('writes each record action and headers only when it is a report', () => {
  for (const [kind, action, subject, field] of REPORTS) {
    const text = buildNotice({
      queueId: 'ABC123',
      sender: 'alice@example.org',
      to: 'alice@example.org',
      myhostname: 'mx.test.example',
      myorigin: 'test.example',
      arrivalTime: 1700000000,
      envelopeId: '',
      records: [{ ...RECORD, status: '2.0.0', action }],
      content: ['Subject: hi', '', 'secret body'].map((l) => Buffer.from(l)),
      headersOnly: true,
      now: 1700000100,
      postmasterCopy: false,
      kind,
    })
      .map((l) => l.toString())
      .join('\n');
    const lines = text.split('\n');
    for (const line of [
      `Subject: ${subject}`,
      `Action: ${field}`,
      'Content-Description: Message Headers',
      'Subject: hi',
    ])
      assert.ok(lines.includes(line), `${kind} ${action}: ${line}`);
    assert.ok(!text.includes('secret body'), kind);
  }
});
