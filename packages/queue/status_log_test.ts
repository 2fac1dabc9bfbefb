// Tests for status_log.ts: Postfix's record format, appending to real
// files under a temporary queue directory (hashed defer/), reading back
// and removing.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  appendStatus,
  formatStatusRecord,
  parseStatusLog,
  readStatusLog,
  removeStatusLog,
  statusLogPath,
} from './status_log';

const CONFIG = {
  list: (name: string) =>
    name === 'hash_queue_names' ? ['deferred', 'defer'] : [],
  int: () => 1,
  bool: () => false,
};

const FIXTURES = path.join(__dirname, '../../../test/fixtures');

function fixtureRecord(rcpt: string, offset: number) {
  return {
    recipient: rcpt,
    originalRecipient: rcpt,
    offset,
    dsnOrigRcpt: `rfc822;${rcpt}`,
    status: '4.4.1',
    action: 'delayed',
    reason: 'connect to 127.0.0.2[127.0.0.2]:25: Connection refused',
  };
}

test('formats records byte for byte as Postfix 3.7 wrote them', () => {
  const text =
    formatStatusRecord(fixtureRecord('bob@[127.0.0.2]', 657)) +
    formatStatusRecord(fixtureRecord('carol@[127.0.0.2]', 733));
  const real = fs.readFileSync(
    path.join(FIXTURES, 'postfix_deferred_2rcpt.defer'),
    'utf8',
  );
  assert.equal(text, real);
});

test('reads a defer log that Postfix wrote', () => {
  const real = fs.readFileSync(
    path.join(FIXTURES, 'postfix_deferred_2rcpt.defer'),
    'utf8',
  );
  const got = parseStatusLog(real);
  assert.deepEqual(
    got.map((r) => [r.recipient, r.offset, r.status, r.action]),
    [
      ['bob@[127.0.0.2]', 657, '4.4.1', 'delayed'],
      ['carol@[127.0.0.2]', 733, '4.4.1', 'delayed'],
    ],
  );
  assert.equal(got[0].dsnOrigRcpt, 'rfc822;bob@[127.0.0.2]');
});

test('formats optional fields and cleans line breaks when given', () => {
  const text = formatStatusRecord(
    {
      recipient: 'bob@example.com',
      originalRecipient: 'bob',
      offset: 123,
      notifyFlags: 2,
      status: '5.1.1',
      action: 'failed',
      diagType: 'smtp',
      diagText: '550 5.1.1 unknown',
      reason: 'unknown user: "bob"\nsecond line',
    },
    false,
  );
  assert.equal(
    text,
    '\nrecipient=bob@example.com\noriginal_recipient=bob\noffset=123\n' +
      'notify_flags=2\nstatus=5.1.1\naction=failed\ndiag_type=smtp\n' +
      'diag_text=550 5.1.1 unknown\n' +
      'reason=unknown user: "bob"?second line\n\n',
  );
});

test('parses records back and drops a torn last record', () => {
  const text =
    formatStatusRecord({
      recipient: 'a@x',
      status: '4.0.0',
      action: 'delayed',
      reason: 'r1',
    }) +
    formatStatusRecord({
      recipient: 'b@x',
      originalRecipient: 'b',
      status: '5.0.0',
      action: 'failed',
      reason: 'r2',
    }) +
    'offset=9\nstatus=4.0';
  const got = parseStatusLog(text);
  assert.deepEqual(
    got.map((r) => [r.recipient, r.originalRecipient, r.status, r.reason]),
    [
      ['a@x', 'a@x', '4.0.0', 'r1'],
      ['b@x', 'b', '5.0.0', 'r2'],
    ],
  );
});

test('appends, reads and removes logs in hashed and flat queues', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'status_log_test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const log of ['defer', 'bounce'] as const) {
    const rec = {
      recipient: 'c@x',
      status: '4.4.1',
      action: 'delayed',
      reason: 'refused',
    };
    await appendStatus(dir, log, 'ABCDEF123', rec, CONFIG);
    await appendStatus(dir, log, 'ABCDEF123', rec, CONFIG);
    const got = await readStatusLog(dir, log, 'ABCDEF123', CONFIG);
    assert.equal(got.length, 2);
    assert.equal(got[1].reason, 'refused');
    assert.ok(fs.existsSync(statusLogPath(dir, log, 'ABCDEF123', CONFIG)));
    assert.equal(await removeStatusLog(dir, log, 'ABCDEF123', CONFIG), true);
    assert.equal(await removeStatusLog(dir, log, 'ABCDEF123', CONFIG), false);
    assert.deepEqual(await readStatusLog(dir, log, 'ABCDEF123', CONFIG), []);
  }
  assert.match(
    statusLogPath(dir, 'defer', 'ABCDEF123', CONFIG),
    /defer\/.\/ABCDEF123$/,
  );
  assert.match(
    statusLogPath(dir, 'bounce', 'ABCDEF123', CONFIG),
    /bounce\/ABCDEF123$/,
  );
});
