// Maildir delivery on real files: Postfix's unique names, the envelope
// headers, no From_ line, and failures that defer or bounce cleanly.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  deliverMaildir,
  flushSpentMarkers,
  forgetMaildirMarkers,
  maildirHost,
  maildirKey,
  releaseMaildirMarkers,
} from './local_maildir';
import { selfRights } from './local_user';
import { defaultSettings } from './local_state';
import {
  maildirMessages,
  removeDir,
  tempDir,
  testMessage,
  writeQueueFile,
} from './local_testkit';

function setup(limit = 0) {
  const dir = tempDir();
  const q = writeQueueFile(dir, {});
  const msg = testMessage(q);
  const target = {
    msg,
    copy: { originalRecipient: 'bob', deliveredTo: 'bob@localhost' },
    rights: selfRights(),
    settings: defaultSettings({ mailboxSizeLimit: limit }),
  };
  const done = () => {
    fs.closeSync(msg.fd);
    removeDir(dir);
  };
  return { dir, target, done };
}

test('does write one file into new/ under Postfix names when delivering', () => {
  const { dir, target, done } = setup();
  try {
    const md = path.join(dir, 'Maildir') + '/';
    const outcome = deliverMaildir(target, md);
    assert.deepEqual(outcome, {
      status: 'sent',
      dsn: '2.0.0',
      reason: 'delivered to maildir',
    });
    const names = fs.readdirSync(path.join(md, 'new'));
    assert.equal(names.length, 1);
    const host = maildirHost().replace(/[.\\]/g, '\\$&');
    assert.match(
      names[0],
      new RegExp(`^\\d+\\.V[0-9a-f]+I[0-9a-f]+M\\d+\\.${host}$`),
    );
    assert.deepEqual(fs.readdirSync(path.join(md, 'tmp')), []);
    assert.ok(fs.statSync(path.join(md, 'cur')).isDirectory());
    const text = maildirMessages(md)[0];
    assert.ok(
      text.startsWith(
        'Return-Path: <alice@example.com>\nX-Original-To: bob\n' +
          'Delivered-To: bob@localhost\nFrom: alice@example.com\n',
      ),
    );
    assert.match(text, /\nFrom the start of a line\n$/);
    assert.equal(
      fs.statSync(path.join(md, 'new', names[0])).mode & 0o777,
      0o600,
    );
  } finally {
    done();
  }
});

test('does give each of two deliveries its own file when in one second', () => {
  const { dir, target, done } = setup();
  try {
    const md = path.join(dir, 'Maildir') + '/';
    deliverMaildir(target, md);
    deliverMaildir(target, md);
    assert.equal(maildirMessages(md).length, 2);
  } finally {
    done();
  }
});

// Postfix's mail_copy makes a directory when a step finds it missing;
// trying all four before each delivery cost eight system calls.
test('does make only what a step finds missing when the Maildir exists', () => {
  const { dir, target, done } = setup();
  try {
    const md = path.join(dir, 'Maildir') + '/';
    deliverMaildir(target, md);
    fs.rmdirSync(path.join(md, 'cur'));
    assert.equal(deliverMaildir(target, md).status, 'sent');
    assert.equal(fs.existsSync(path.join(md, 'cur')), false);
    fs.rmSync(path.join(md, 'new'), { recursive: true });
    assert.equal(deliverMaildir(target, md).status, 'sent');
    assert.equal(fs.readdirSync(path.join(md, 'new')).length, 1);
    assert.ok(fs.statSync(path.join(md, 'cur')).isDirectory());
    assert.deepEqual(fs.readdirSync(path.join(md, 'tmp')), []);
  } finally {
    done();
  }
});

test('does defer with the path when the Maildir cannot be made', () => {
  const { dir, target, done } = setup();
  try {
    fs.writeFileSync(path.join(dir, 'plain'), 'x');
    const outcome = deliverMaildir(target, path.join(dir, 'plain', 'Md') + '/');
    assert.equal(outcome.status, 'deferred');
    assert.equal(outcome.dsn, '4.2.0');
    assert.match(
      outcome.reason,
      /^maildir delivery failed: (mkdir|open) .*plain\/Md/,
    );
  } finally {
    done();
  }
});

test('does bounce 5.2.2 and leave nothing when over mailbox_size_limit', () => {
  const { dir, target, done } = setup(20);
  try {
    const md = path.join(dir, 'Maildir') + '/';
    const outcome = deliverMaildir(target, md);
    assert.equal(outcome.status, 'bounced');
    assert.equal(outcome.dsn, '5.2.2');
    assert.deepEqual(fs.readdirSync(path.join(md, 'tmp')), []);
    assert.deepEqual(fs.readdirSync(path.join(md, 'new')), []);
  } finally {
    done();
  }
});

test('does not deliver twice when a retry follows a crash before the done mark', () => {
  const { dir, target, done } = setup();
  try {
    const md = path.join(dir, 'Maildir') + '/';
    const keyed = { ...target, key: maildirKey(target.msg, { offset: 77 }) };
    assert.equal(deliverMaildir(keyed, md).status, 'sent');
    // The agent died here: the recipient was never marked done.
    forgetMaildirMarkers(target.msg.queueId, 77);
    assert.equal(deliverMaildir(keyed, md).status, 'sent');
    assert.equal(fs.readdirSync(path.join(md, 'new')).length, 1);
    // Marked done at last: the marker goes, the message stays.
    releaseMaildirMarkers(target.msg.queueId, 77);
    flushSpentMarkers();
    assert.deepEqual(fs.readdirSync(path.join(md, 'tmp')), []);
    assert.equal(fs.readdirSync(path.join(md, 'new')).length, 1);
  } finally {
    done();
  }
});

test('does write again when an earlier try died while writing', () => {
  const { dir, target, done } = setup();
  try {
    const md = path.join(dir, 'Maildir') + '/';
    const key = maildirKey(target.msg, { offset: 9 })!;
    for (const sub of ['tmp', 'new', 'cur'])
      fs.mkdirSync(path.join(md, sub), { recursive: true });
    // A half-written copy that never reached new/.
    fs.writeFileSync(path.join(md, 'tmp', `${key}.${maildirHost()}`), 'Ret');
    assert.equal(deliverMaildir({ ...target, key }, md).status, 'sent');
    releaseMaildirMarkers(target.msg.queueId, 9);
    flushSpentMarkers();
    const [text] = maildirMessages(md);
    assert.match(text, /^Return-Path: <alice@example\.com>/);
    assert.deepEqual(fs.readdirSync(path.join(md, 'tmp')), []);
  } finally {
    done();
  }
});

test('does remove a spent marker in the next delivery to the same user', () => {
  const { dir, target, done } = setup();
  try {
    const md = path.join(dir, 'Maildir') + '/';
    const first = { ...target, key: maildirKey(target.msg, { offset: 5 }) };
    const second = { ...target, key: maildirKey(target.msg, { offset: 6 }) };
    assert.equal(deliverMaildir(first, md).status, 'sent');
    releaseMaildirMarkers(target.msg.queueId, 5);
    // Still there: removing it alone would cost a switch of rights.
    const tmp = path.join(md, 'tmp');
    assert.equal(fs.readdirSync(tmp).length, 1);
    assert.equal(deliverMaildir(second, md).status, 'sent');
    assert.deepEqual(fs.readdirSync(tmp), [`${second.key}.${maildirHost()}`]);
    forgetMaildirMarkers(target.msg.queueId, 6);
    assert.equal(fs.readdirSync(path.join(md, 'new')).length, 2);
  } finally {
    done();
  }
});
