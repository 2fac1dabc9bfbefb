// DSN parameters passed on by the smtp and lmtp clients (issue 5 point
// 1), end to end through master: each recipient keeps its own NOTIFY and
// ORCPT, the message its RET and ENVID, on the wire to a scripted sink
// and in the queue file of a second instance of ours (read with postcat);
// a peer that does not offer DSN gets none of them.

import test from 'node:test';
import assert from 'node:assert/strict';
import { message, queueIdOf, SmtpClient, startInstance } from './harness';
import type { Instance } from './harness';
import { startSink, type SmtpSink } from './sink/smtp_sink';

let a: Instance; // the instance under test
let b: Instance; // the next hop: keeps what it received in its queue
let dsnSink: SmtpSink;
let plainSink: SmtpSink;
let lmtpSink: SmtpSink;

const NO_DSN_EHLO = '250-sink.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n';

test.before(async () => {
  dsnSink = await startSink({});
  plainSink = await startSink({ ehlo: NO_DSN_EHLO });
  lmtpSink = await startSink({ lmtp: true });
  b = await startInstance({
    main: {
      myhostname: 'b.test.example',
      transport_maps: 'inline:{ held.example = retry:4.2.0 kept here }',
    },
  });
  const routes = [
    `held.example=smtp:[127.0.0.1]:${b.smtpPort}`,
    `dsn.example=smtp:[127.0.0.1]:${dsnSink.port}`,
    `plain.example=smtp:[127.0.0.1]:${plainSink.port}`,
    `lmtp.example=lmtp:inet:127.0.0.1:${lmtpSink.port}`,
  ];
  a = await startInstance({
    main: { transport_maps: `inline:{ ${routes.join(', ')} }` },
  });
});

test.after(async () => {
  await a?.destroy();
  await b?.destroy();
  for (const sink of [dsnSink, plainSink, lmtpSink]) await sink?.close();
});

// Two recipients with their own NOTIFY; the first with its own ORCPT,
// the second with none (the client then sends the original recipient).
async function submit(domain: string): Promise<string> {
  const c = await SmtpClient.connect(a.smtpPort);
  try {
    await c.reply();
    await c.command('EHLO client.test.example');
    const mail = 'MAIL FROM:<alice@localhost> RET=HDRS ENVID=env+2B1';
    assert.match(await c.command(mail), /^250/);
    const first = `RCPT TO:<x@${domain}> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;first+2Bo@o.example`;
    assert.match(await c.command(first), /^250/);
    assert.match(await c.command(`RCPT TO:<y@${domain}> NOTIFY=NEVER`), /^250/);
    assert.match(await c.command('DATA'), /^354/);
    c.write(message('dsn'));
    const id = queueIdOf(await c.command('.'));
    await c.command('QUIT');
    return id;
  } finally {
    c.close();
  }
}

async function sent(id: string, agent = 'smtp'): Promise<string> {
  return a.waitForLog(
    new RegExp(`${agent}\\[\\d+\\]: ${id}: to=<y@[^>]+>, .*status=sent .*`),
  );
}

function envelopeOf(sink: SmtpSink): string[] {
  return sink.commands.filter((c) => /^(MAIL|RCPT)/.test(c));
}

test('does send each recipient its own NOTIFY and ORCPT, and RET and ENVID', async () => {
  await sent(await submit('dsn.example'));
  const [mail, ...rcpts] = envelopeOf(dsnSink);
  assert.match(mail, / RET=HDRS ENVID=env\+2B1$/);
  assert.deepEqual(rcpts, [
    'RCPT TO:<x@dsn.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;first+2Bo@o.example',
    'RCPT TO:<y@dsn.example> NOTIFY=NEVER ORCPT=rfc822;y@dsn.example',
  ]);
});

test('does send no DSN parameter to a peer that does not offer DSN', async () => {
  await sent(await submit('plain.example'));
  assert.deepEqual(envelopeOf(plainSink), [
    'MAIL FROM:<alice@localhost>',
    'RCPT TO:<x@plain.example>',
    'RCPT TO:<y@plain.example>',
  ]);
});

test('does send each recipient its own NOTIFY and ORCPT over LMTP', async () => {
  await sent(await submit('lmtp.example'), 'lmtp');
  const rcpts = envelopeOf(lmtpSink).slice(1);
  assert.deepEqual(rcpts, [
    'RCPT TO:<x@lmtp.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;first+2Bo@o.example',
    'RCPT TO:<y@lmtp.example> NOTIFY=NEVER ORCPT=rfc822;y@lmtp.example',
  ]);
});

test('does have the next instance record each recipient DSN in its queue file', async () => {
  const line = await sent(await submit('held.example'));
  const next = queueIdOf(line);
  const shown = b.command('postcat', ['-q', next]);
  assert.equal(shown.code, 0, shown.stderr);
  const records = shown.stdout
    .split('\n')
    .filter((l) =>
      /dsn_|envelope_id|ret_flags|notify_flags|recipient:/.test(l),
    );
  assert.deepEqual(records, [
    'named_attribute: envelope_id=env+1',
    'named_attribute: ret_flags=2',
    'named_attribute: dsn_orig_rcpt=rfc822;first+o@o.example',
    'named_attribute: notify_flags=10',
    'original_recipient: x@held.example',
    'recipient: x@held.example',
    'named_attribute: dsn_orig_rcpt=rfc822;y@held.example',
    'named_attribute: notify_flags=1',
    'original_recipient: y@held.example',
    'recipient: y@held.example',
  ]);
});
