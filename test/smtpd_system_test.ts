// smtpd in a whole instance started with "postfix start" (test/harness.ts):
// a client outside mynetworks cannot relay and cannot smuggle a second
// message past DATA; what it sends is delivered as one message, and the
// mail log holds smtpd's lines in Postfix's shape.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  queueIdOf,
  SmtpClient,
  sleep,
  startInstance,
  type Instance,
} from './harness';

let mta: Instance;

// 127.0.0.1 is kept out of mynetworks, and so out of
// smtpd_forbid_bare_newline_exclusions, to be the stranger.
test.before(async () => {
  mta = await startInstance({ main: { mynetworks: '192.0.2.0/24' } });
});

test.after(async () => {
  await mta.destroy();
});

test('does refuse to relay for a stranger and log NOQUEUE reject as Postfix', async () => {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO stranger.example');
  assert.equal(
    await smtp.command('MAIL FROM:<s@stranger.example>'),
    '250 2.1.0 Ok',
  );
  assert.equal(
    await smtp.command('RCPT TO:<victim@elsewhere.example>'),
    '454 4.7.1 <victim@elsewhere.example>: Relay access denied',
  );
  assert.equal(await smtp.command('QUIT'), '221 2.0.0 Bye');
  await mta.waitForLog(
    /postfix\/smtpd\[\d+\]: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 454 4\.7\.1 <victim@elsewhere\.example>: Relay access denied; from=<s@stranger\.example> to=<victim@elsewhere\.example> proto=ESMTP helo=<stranger\.example>/,
  );
  await mta.waitForLog(
    /postfix\/smtpd\[\d+\]: disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=0\/1 quit=1 commands=3\/4/,
  );
});

test('does deliver one message, not two, when a stranger hides <LF>.<LF> and a second transaction in DATA', async () => {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO stranger.example');
  await smtp.command('MAIL FROM:<s@stranger.example>');
  await smtp.command('RCPT TO:<alice@localhost>');
  assert.match(await smtp.command('DATA'), /^354 /);
  smtp.write(
    'Subject: first\r\n\r\nfirst body\n.\n' +
      'MAIL FROM:<evil@stranger.example>\r\nRCPT TO:<alice@localhost>\r\n' +
      'DATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n',
  );
  const reply = await smtp.command('.');
  assert.match(reply, /^250 2\.0\.0 Ok: queued as /);
  const id = queueIdOf(reply);
  assert.equal(await smtp.command('QUIT'), '221 2.0.0 Bye');
  const [delivered] = await mta.waitForMaildir('alice', 1);
  assert.match(delivered, /Subject: first/);
  assert.match(delivered, /MAIL FROM:<evil@stranger\.example>/);
  await mta.waitForLog(new RegExp(`${id}: removed`));
  await sleep(500); // a second message, were there one, would be out too
  assert.equal(mta.maildir('alice').length, 1);
  assert.doesNotMatch(mta.log(), /from=<evil@stranger\.example>/);
});

test('does refuse to start as an open relay, with Postfix fatal text in the log', async () => {
  const open = await startInstance({
    main: { smtpd_relay_restrictions: 'permit_mynetworks' },
  });
  try {
    const smtp = await SmtpClient.connect(open.smtpPort);
    await smtp.reply(5000).catch(() => '');
    smtp.close();
    await open.waitForLog(
      /postfix\/smtpd\[\d+\]: fatal: in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit or check_relay_domains/,
    );
  } finally {
    await open.destroy();
  }
});
