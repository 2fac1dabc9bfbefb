// End to end through master: mail for a transport that is not there is
// deferred, expires at once (maximal_queue_lifetime = 0), and the bounce
// daemon returns it to the local sender, whose Maildir gets the notice;
// qmgr and bounce log as Postfix's do.

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
  mta = await startInstance({
    main: {
      maximal_queue_lifetime: '0',
      transport_maps: 'inline:{ nowhere.example=missing: }',
    },
  });
});

test.after(async () => {
  await mta.destroy();
});

test('returns expired mail to the sender with a notice from bounce', async () => {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const reply = await smtp.send(
    'alice@localhost',
    ['x@nowhere.example'],
    message('doomed'),
  );
  const id = queueIdOf(reply);
  await smtp.command('QUIT');
  const [notice] = await mta.waitForMaildir('alice', 1);
  assert.match(notice, /^Subject: Undelivered Mail Returned to Sender\r?$/m);
  assert.match(notice, new RegExp(`^X-Postfix-Queue-ID: ${id}\\r?$`, 'm'));
  assert.match(notice, /^Status: 5\.3\.0\r?$/m);
  assert.match(notice, /<x@nowhere\.example>: mail transport unavailable/);
  assert.match(notice, /Subject: doomed/);
  await mta.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed`));
  const log = mta.log();
  for (const line of [
    `postfix/qmgr\\[\\d+\\]: ${id}: to=<x@nowhere\\.example>, relay=none, delay=[\\d.]+, delays=[\\d./]+, dsn=4\\.3\\.0, status=deferred \\(mail transport unavailable\\)`,
    `postfix/qmgr\\[\\d+\\]: ${id}: from=<alice@localhost>, status=expired, returned to sender`,
    `postfix/bounce\\[\\d+\\]: ${id}: sender non-delivery notification: [0-9A-F]+`,
  ])
    assert.match(log, new RegExp(line));
});

test('returns only the headers to a sender who asked RET=HDRS over SMTP', async () => {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  assert.match(
    await smtp.command('MAIL FROM:<bob@localhost> RET=HDRS'),
    /^250/,
  );
  assert.match(await smtp.command('RCPT TO:<y@nowhere.example>'), /^250/);
  assert.match(await smtp.command('DATA'), /^354/);
  smtp.write(message('headers only', 'the secret body line'));
  const id = queueIdOf(await smtp.command('.'));
  await smtp.command('QUIT');
  smtp.close();
  const [notice] = await mta.waitForMaildir('bob', 1);
  assert.match(notice, new RegExp(`^X-Postfix-Queue-ID: ${id}\\r?$`, 'm'));
  assert.match(notice, /^Content-Type: text\/rfc822-headers/m);
  assert.match(notice, /^Subject: headers only\r?$/m);
  assert.doesNotMatch(notice, /the secret body line/);
});
