// Tests of the mailq listing, byte for byte against postfix.md 4.4's
// example, and of postqueue -j lines.

import test from 'node:test';
import assert from 'node:assert/strict';
import { asctime, formatJson, writeMailq } from './showq_format';
import type { ShowqEntry } from '../../services/showq/showq_queue';

// Local time, as asctime(3) prints it: build the epoch from the parts.
const T1 = new Date(2024, 0, 1, 12, 0, 0).getTime() / 1000;
const T2 = new Date(2023, 11, 31, 9, 15, 2).getTime() / 1000;

const ENTRIES: ShowqEntry[] = [
  {
    queueName: 'active',
    queueId: '4F9D62A1F3',
    arrivalTime: T1,
    size: 1234,
    forcedExpire: false,
    sender: 'sender@example.com',
    recipients: [{ address: 'rcpt@example.net', origAddress: '', reason: '' }],
  },
  {
    queueName: 'deferred',
    queueId: '5B1C03E2A0',
    arrivalTime: T2,
    size: 812,
    forcedExpire: false,
    sender: '',
    recipients: [
      {
        address: 'user@example.org',
        origAddress: '',
        reason: 'connect to mx.example.org[192.0.2.7]:25: Connection timed out',
      },
    ],
  },
];

const EXPECTED =
  '-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n' +
  '4F9D62A1F3*    1234 Mon Jan  1 12:00:00  sender@example.com\n' +
  '                                         rcpt@example.net\n' +
  '\n' +
  '5B1C03E2A0      812 Sun Dec 31 09:15:02  MAILER-DAEMON\n' +
  '               (connect to mx.example.org[192.0.2.7]:25: Connection timed out)\n' +
  '                                         user@example.org\n' +
  '\n' +
  '-- 1 Kbytes in 2 Requests.\n';

async function listing(entries: ShowqEntry[], long = false): Promise<string> {
  let out = '';
  async function* gen() {
    yield* entries;
  }
  await writeMailq(gen(), long, (s) => (out += s));
  return out;
}

test('writeMailq prints Postfix layout byte for byte when IDs are short', async () => {
  assert.equal(await listing(ENTRIES), EXPECTED);
});

test('writeMailq says the queue is empty when there is no message', async () => {
  assert.equal(await listing([]), 'Mail queue is empty\n');
});

test('writeMailq marks hold and forced expiry and says Request for one', async () => {
  const held = { ...ENTRIES[0], queueName: 'hold', forcedExpire: true };
  const out = await listing([held]);
  assert.match(out, /^4F9D62A1F3!# {4}1234 /m);
  assert.match(out, /-- 1 Kbytes in 1 Request\.\n$/);
});

test('writeMailq uses the long layout when long queue IDs are on', async () => {
  const e = { ...ENTRIES[0], queueId: '3Pt2mN2VXxznjll' };
  const out = await listing([e], true);
  assert.equal(
    out.split('\n').slice(0, 3).join('\n'),
    '----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n' +
      '3Pt2mN2VXxznjll*      1234 Mon Jan  1 12:00:00 sender@example.com\n' +
      ' '.repeat(47) +
      'rcpt@example.net',
  );
});

test('writeMailq prints a reason once when recipients share it', async () => {
  const r = { address: 'a@x', origAddress: '', reason: 'why' };
  const e = { ...ENTRIES[1], recipients: [r, { ...r, address: 'b@x' }] };
  const out = await listing([e]);
  assert.equal(out.split('(why)').length, 2);
});

test('asctime pads the day with a space as asctime(3) does', () => {
  assert.equal(asctime(T1), 'Mon Jan  1 12:00:00 2024');
});

test('formatJson writes Postfix key order when given a deferred message', () => {
  assert.equal(
    formatJson(ENTRIES[1]),
    `{"queue_name": "deferred", "queue_id": "5B1C03E2A0", "arrival_time": ${T2}, ` +
      '"message_size": 812, "forced_expire": false, "sender": "", "recipients": ' +
      '[{"address": "user@example.org", "delay_reason": "connect to mx.example.org[192.0.2.7]:25: Connection timed out"}]}\n',
  );
});
