// End to end through master (test/harness): header_checks and
// body_checks as regexp: files, mail sent over SMTP, and each action shown
// by smtpd's reply, the Maildir, the hold queue or the log line cleanup
// writes in Postfix's form.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Instance,
  makeInstance,
  SmtpClient,
  sleep,
  waitForPort,
} from './harness';

const HEADER_CHECKS = [
  '/^Subject: reject me/ REJECT go away',
  '/^Subject: warn me/ WARN noted',
  '/^Subject: info me/ INFO seen',
  '/^Subject: hold me/ HOLD held',
  '/^Subject: discard me/ DISCARD',
  '/^X-Drop:/ IGNORE',
  '/^Subject: prepend me/ PREPEND X-Flag: yes',
  '/^Subject: replace me/ REPLACE Subject: replaced',
  '/^Subject: redirect me/ REDIRECT carol@localhost',
  '/^Subject: dunno me/ DUNNO',
  '/^Subject: bcc me/ BCC henry@localhost',
  '',
].join('\n');

const BODY_CHECKS = [
  '/^badword/ REJECT body refused',
  '/^secret/ REPLACE [censored]',
  '',
].join('\n');

let mta: Instance;

before(async () => {
  mta = await makeInstance({
    main: {
      header_checks: 'regexp:$config_directory/header_checks',
      body_checks: 'regexp:$config_directory/body_checks',
    },
  });
  fs.writeFileSync(path.join(mta.configDir, 'header_checks'), HEADER_CHECKS);
  fs.writeFileSync(path.join(mta.configDir, 'body_checks'), BODY_CHECKS);
  const started = mta.postfix('start');
  assert.equal(started.code, 0, started.stderr);
  await waitForPort(mta.smtpPort);
});

after(async () => {
  await mta?.destroy();
});

// One message to rcpt with this subject (and extra lines); the reply to
// the final dot.
async function send(
  rcpt: string,
  subject: string,
  extra: string[] = [],
  body = ['body'],
): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  try {
    await smtp.reply();
    await smtp.command('EHLO client.test.example');
    const text = [`Subject: ${subject}`, ...extra, '', ...body, ''].join('\n');
    return await smtp.send('carol@localhost', [rcpt], text);
  } finally {
    smtp.close();
  }
}

async function delivered(user: string, subject: RegExp): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const copy = mta.maildir(user).find((m) => subject.test(m));
    if (copy) return copy;
    if (Date.now() > deadline)
      throw new Error(`${user}: no message ${subject}:\n${mta.log()}`);
    await sleep(100);
  }
}

const CLIENT = 'from \\S+\\[127\\.0\\.0\\.1\\]; from=<carol@localhost>';

test('does refuse with 550 5.7.1 and log the header when header_checks says REJECT', async () => {
  const reply = await send('alice@localhost', 'reject me');
  assert.equal(reply, '550 5.7.1 go away');
  await mta.waitForLog(
    new RegExp(
      `: reject: header Subject: reject me ${CLIENT} to=<alice@localhost> ` +
        'proto=ESMTP helo=<client.test.example>: 5.7.1 go away',
    ),
  );
});

test('does refuse with 550 5.7.1 when body_checks says REJECT', async () => {
  const reply = await send('alice@localhost', 'body', [], ['ok', 'badword']);
  assert.equal(reply, '550 5.7.1 body refused');
  await mta.waitForLog(
    new RegExp(`: reject: body badword ${CLIENT} .*: 5.7.1 body refused`),
  );
});

test('does deliver and log when header_checks says WARN or INFO', async () => {
  assert.match(await send('alice@localhost', 'warn me'), /^250 /);
  assert.match(await send('alice@localhost', 'info me'), /^250 /);
  await delivered('alice', /^Subject: warn me$/m);
  await delivered('alice', /^Subject: info me$/m);
  await mta.waitForLog(
    new RegExp(`: warning: header Subject: warn me ${CLIENT}.*: noted`),
  );
  await mta.waitForLog(
    new RegExp(`: info: header Subject: info me ${CLIENT}.*: seen`),
  );
});

test('does keep the message in hold/ when header_checks says HOLD', async () => {
  const reply = await send('alice@localhost', 'hold me');
  assert.match(reply, /^250 /);
  await mta.waitForLog(/: hold: header Subject: hold me from .*: held/);
  assert.equal(mta.queueFiles('hold').length, 1);
});

test('does answer 250 and deliver nothing when header_checks says DISCARD', async () => {
  const reply = await send('dave@localhost', 'discard me');
  assert.match(reply, /^250 /);
  await mta.waitForLog(/: discard: header Subject: discard me from /);
  assert.match(await send('dave@localhost', 'after discard'), /^250 /);
  await delivered('dave', /^Subject: after discard$/m);
  assert.equal(mta.maildir('dave').length, 1);
});

test('does edit headers when header_checks says IGNORE, PREPEND or REPLACE', async () => {
  await send('erin@localhost', 'prepend me', ['X-Drop: gone']);
  await send('erin@localhost', 'replace me');
  const prepended = await delivered('erin', /^Subject: prepend me$/m);
  assert.match(prepended, /^X-Flag: yes\nSubject: prepend me$/m);
  assert.doesNotMatch(prepended, /^X-Drop:/m);
  await delivered('erin', /^Subject: replaced$/m);
});

test('does replace a body line when body_checks says REPLACE', async () => {
  await send('frank@localhost', 'censor', [], ['secret plan', 'rest']);
  const copy = await delivered('frank', /^Subject: censor$/m);
  assert.match(copy, /^\[censored\]\nrest$/m);
  assert.doesNotMatch(copy, /secret plan/);
});

test('does deliver to the REDIRECT address instead of the recipient', async () => {
  assert.match(await send('gina@localhost', 'redirect me'), /^250 /);
  await delivered('carol', /^Subject: redirect me$/m);
  await mta.waitForLog(
    /: redirect: header Subject: redirect me from .*: carol@localhost/,
  );
  assert.equal(mta.maildir('gina').length, 0);
});

test('does deliver a copy to the BCC address as well as the recipient', async () => {
  assert.match(await send('ivan@localhost', 'bcc me'), /^250 /);
  await delivered('ivan', /^Subject: bcc me$/m);
  await delivered('henry', /^Subject: bcc me$/m);
});
