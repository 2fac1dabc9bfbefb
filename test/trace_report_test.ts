// Delivery reports through the whole running system: sendmail -bv and -v
// (the "Mail Delivery Status Report"), RCPT NOTIFY=SUCCESS (the success
// notice, delivered locally or relayed through smtp to a sink), NOTIFY=
// NEVER, and reports that come from the null sender and never loop.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type Instance,
  message,
  queueIdOf,
  SmtpClient,
  startInstance,
} from './harness';
import { startSink, type SmtpSink } from './sink/smtp_sink';

let mta: Instance;
let sink: SmtpSink;

before(async () => {
  // A peer without DSN: the success notice must then say "relayed".
  sink = await startSink({
    ehlo: '250-sink.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n',
  });
  mta = await startInstance({
    main: {
      relayhost: `[127.0.0.1]:${sink.port}`,
      transport_maps: 'inline:{{fail.example=error:no such place}}',
    },
  });
});

after(async () => {
  await mta?.destroy();
  await sink?.close();
});

function sendmail(args: string[], input = 'Subject: probe\n\nhello\n') {
  const r = mta.command('sendmail', args, input);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

// One SMTP transaction whose RCPT carries DSN parameters.
async function smtpSend(from: string, rcpt: string, subject: string) {
  const c = await SmtpClient.connect(mta.smtpPort);
  try {
    await c.reply();
    await c.command('EHLO client.test.example');
    assert.match(await c.command(`MAIL FROM:<${from}>`), /^250/);
    assert.match(await c.command(`RCPT TO:${rcpt}`), /^250/);
    assert.match(await c.command('DATA'), /^354/);
    c.write(message(subject));
    const id = queueIdOf(await c.command('.'));
    await c.command('QUIT');
    return id;
  } finally {
    c.close();
  }
}

async function removed(id: string): Promise<void> {
  await mta.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed`));
}

function header(text: string, name: string): string {
  const m = new RegExp(`^${name}: (.*)$`, 'm').exec(text);
  return m ? m[1] : '';
}

test('does mail a status report and deliver nothing for sendmail -bv', async () => {
  const said = sendmail(['-bv', '-f', 'bv@localhost', 'alice@localhost']);
  assert.equal(
    said,
    'Mail Delivery Status Report will be mailed to <bv@localhost>.\n',
  );
  const [report] = await mta.waitForMaildir('bv', 1);
  assert.equal(header(report, 'Subject'), 'Mail Delivery Status Report');
  assert.equal(header(report, 'Return-Path'), '<>');
  assert.match(header(report, 'From'), /^Mail Delivery System <MAILER-DAEMON@/);
  assert.match(report, /multipart\/report; report-type=delivery-status/);
  assert.match(report, /Content-Type: message\/delivery-status/);
  assert.match(
    report,
    /<alice@localhost>: delivery via local: delivers to maildir/,
  );
  assert.match(report, /Final-Recipient: rfc822; alice@localhost/);
  assert.match(report, /Action: deliverable\nStatus: 2\.0\.0/);
  assert.match(report, /\nSubject: probe\n/); // the headers come back
  assert.match(
    mta.log(),
    /local\[\d+\]: \w+: to=<alice@localhost>, relay=local, .*status=deliverable \(delivers to maildir\)/,
  );
  assert.equal(mta.maildir('alice').length, 0);
});

test('does deliver and mail a status report for sendmail -v', async () => {
  sendmail(['-v', '-f', 'vee@localhost', 'carol@localhost']);
  const [copy] = await mta.waitForMaildir('carol', 1);
  assert.match(copy, /\nSubject: probe\n/);
  const [report] = await mta.waitForMaildir('vee', 1);
  assert.equal(header(report, 'Subject'), 'Mail Delivery Status Report');
  assert.match(report, /<carol@localhost>: delivery via local: delivered/);
  assert.match(report, /Action: delivered\nStatus: 2\.0\.0/);
  assert.match(mta.log(), /sender delivery status notification: \w+/);
});

test('does send a success notice with Action: delivered for NOTIFY=SUCCESS', async () => {
  const id = await smtpSend(
    'ok@localhost',
    '<dave@localhost> NOTIFY=SUCCESS',
    'notify',
  );
  await mta.waitForMaildir('dave', 1);
  const [notice] = await mta.waitForMaildir('ok', 1);
  assert.equal(header(notice, 'Subject'), 'Successful Mail Delivery Report');
  assert.equal(header(notice, 'Return-Path'), '<>');
  assert.match(notice, /Final-Recipient: rfc822; dave@localhost/);
  assert.match(notice, /Action: delivered\nStatus: 2\.0\.0/);
  assert.match(notice, /X-Postfix-Queue-ID: /);
  assert.match(
    mta.log(),
    new RegExp(`${id}: sender delivery status notification: \\w+`),
  );
});

test('does send a success notice with Action: relayed through smtp', async () => {
  const id = await smtpSend(
    'relay@localhost',
    '<zed@far.example> NOTIFY=SUCCESS',
    'relayed',
  );
  const [notice] = await mta.waitForMaildir('relay', 1);
  assert.ok(sink.messages.some((m) => m.to.includes('zed@far.example')));
  assert.match(notice, /Final-Recipient: rfc822; zed@far.example/);
  assert.match(notice, /Action: relayed\nStatus: 2\.0\.0/);
  assert.match(notice, /Remote-MTA: dns; 127\.0\.0\.1/);
  assert.match(notice, /Diagnostic-Code: smtp; 250 2\.0\.0 Ok/);
  await removed(id);
});

test('does send no notice when NOTIFY=NEVER and delivery fails', async () => {
  const id = await smtpSend(
    'never@localhost',
    '<x@fail.example> NOTIFY=NEVER',
    'never',
  );
  await removed(id);
  assert.match(mta.log(), new RegExp(`${id}: to=<x@fail.example>.*bounced`));
  assert.doesNotMatch(mta.log(), new RegExp(`${id}: sender non-delivery`));
  assert.equal(mta.maildir('never').length, 0);
});

function count(pattern: RegExp): number {
  return (mta.log().match(new RegExp(pattern, 'g')) ?? []).length;
}

test('does not loop when the report to a -v sender bounces', async () => {
  const reports = count(/sender delivery status notification/);
  sendmail(['-v', '-f', 'gone@fail.example', 'erin@localhost']);
  await mta.waitForMaildir('erin', 1);
  // The report bounces; its bounce goes to the postmaster from the
  // double-bounce address, and nothing reports on that.
  const [bounce] = await mta.waitForMaildir('postmaster', 1);
  assert.equal(
    header(bounce, 'Return-Path'),
    '<double-bounce@mail.test.example>',
  );
  assert.match(bounce, /Subject: Postmaster Copy: Undelivered Mail/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(mta.maildir('postmaster').length, 1);
  assert.equal(count(/sender delivery status notification/), reports + 1);
  assert.equal(count(/postmaster non-delivery notification/), 1);
  assert.equal(mta.queueFiles('deferred').length, 0);
});
