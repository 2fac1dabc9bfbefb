// End to end: mail sent over SMTP to a local user is queued, delivered to
// the user's Maildir, and logged as Postfix logs it, on an instance
// started with "postfix start".

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  message,
  queueIdOf,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';

let mta: Instance;

test.before(async () => {
  mta = await startInstance();
});

test.after(async () => {
  await mta.destroy();
});

test('delivers a message sent over SMTP to the Maildir of a local user', async () => {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  assert.match(await smtp.reply(), /^220 mail\.test\.example ESMTP Postfix$/);
  assert.match(await smtp.command('EHLO client.test.example'), /^250-/);
  const reply = await smtp.send(
    'sender@test.example',
    ['alice@localhost'],
    message('hello'),
  );
  assert.match(reply, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
  const id = queueIdOf(reply);
  assert.equal(await smtp.command('QUIT'), '221 2.0.0 Bye');
  const [delivered] = await mta.waitForMaildir('alice', 1);
  assert.match(delivered, /^Return-Path: <sender@test\.example>\r?\n/);
  assert.match(delivered, /Delivered-To: alice@localhost/);
  assert.match(delivered, /Subject: hello/);
  await mta.waitForLog(new RegExp(`${id}: removed`));
  const log = mta.log();
  for (const line of [
    /postfix\/smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]/,
    new RegExp(
      `postfix/smtpd\\[\\d+\\]: ${id}: client=localhost\\[127\\.0\\.0\\.1\\]`,
    ),
    // 127.0.0.1 is one of our interfaces: local_header_rewrite_clients'
    // default gives it local rewriting, so cleanup adds a Message-ID.
    new RegExp(
      `postfix/cleanup\\[\\d+\\]: ${id}: message-id=<\\d{14}\\.${id}@mail\\.test\\.example>`,
    ),
    new RegExp(
      `postfix/qmgr\\[\\d+\\]: ${id}: from=<sender@test\\.example>, size=\\d+, nrcpt=1 \\(queue active\\)`,
    ),
    new RegExp(
      `postfix/local\\[\\d+\\]: ${id}: to=<alice@localhost>, relay=local, delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, dsn=2\\.0\\.0, status=sent \\(delivered to maildir\\)`,
    ),
    /postfix\/smtpd\[\d+\]: disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5/,
  ])
    assert.match(log, line);
});
