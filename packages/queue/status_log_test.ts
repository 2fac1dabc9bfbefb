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

test('formats a record in Postfix field order ended by an empty line', () => {
  const text = formatStatusRecord({
    recipient: 'bob@example.com',
    originalRecipient: 'bob',
    offset: 123,
    notifyFlags: 0,
    status: '5.1.1',
    action: 'failed',
    diagType: 'smtp',
    diagText: '550 5.1.1 unknown',
    reason: 'unknown user: "bob"\nsecond line',
  });
  assert.equal(
    text,
    'recipient=bob@example.com\noriginal_recipient=bob\noffset=123\n' +
      'notify_flags=0\nstatus=5.1.1\naction=failed\ndiag_type=smtp\n' +
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
