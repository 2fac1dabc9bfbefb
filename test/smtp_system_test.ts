// End to end through master (test/harness): mail routed by transport_maps
// to smtp:[127.0.0.1]:port reaches a scripted sink and leaves the queue;
// error:, retry: and discard: nexthops bounce, defer and drop with the
// nexthop text as the reason (issue 5 points 1 and 7); other remote mail
// goes to relayhost.

import test from 'node:test';
import assert from 'node:assert/strict';
import { message, queueIdOf, SmtpClient, startInstance } from './harness';
import type { Instance } from './harness';
import { startSink, type SmtpSink } from './sink/smtp_sink';

let mta: Instance;
let sink: SmtpSink;

test.before(async () => {
  sink = await startSink({});
  const routes = [
    `sink.example=smtp:[127.0.0.1]:${sink.port}`,
    '{ bad.example = error:5.1.1 mailbox unavailable }',
    '{ later.example = retry:4.2.0 try tomorrow }',
    '{ void.example = discard:silently dropped }',
  ];
  mta = await startInstance({
    main: {
      transport_maps: `inline:{ ${routes.join(', ')} }`,
      relayhost: `[127.0.0.1]:${sink.port}`,
    },
  });
});

test.after(async () => {
  await mta.destroy();
  await sink.close();
});

async function submit(to: string[], subject: string): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const reply = await smtp.send('alice@localhost', to, message(subject));
  await smtp.command('QUIT');
  return queueIdOf(reply);
}

const LINE = (id: string, agent: string, to: string) =>
  `postfix/${agent}\\[\\d+\\]: ${id}: to=<${to.replace(/\./g, '\\.')}>, ` +
  'relay=[^,]+, (?:conn_use=\\d+, )?delay=[\\d.]+, delays=[\\d./]+, ';

test('does relay through the smtp agent to the sink and remove the file', async () => {
  const id = await submit(['bob@sink.example', 'carol@sink.example'], 'hi');
  await mta.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed`));
  assert.equal(sink.messages.length, 1);
  assert.deepEqual(sink.messages[0].to, [
    'bob@sink.example',
    'carol@sink.example',
  ]);
  assert.equal(sink.messages[0].from, 'alice@localhost');
  assert.match(sink.messages[0].data, /^Subject: hi\r$/m);
  assert.match(
    mta.log(),
    new RegExp(
      LINE(id, 'smtp', 'bob@sink.example') +
        'dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok: queued as SINK1\\)',
    ),
  );
});

test('does bounce with the error nexthop text as reason', async () => {
  const id = await submit(['x@bad.example'], 'bad');
  await mta.waitForLog(
    new RegExp(
      LINE(id, 'error', 'x@bad.example') +
        'dsn=5\\.1\\.1, status=bounced \\(mailbox unavailable\\)',
    ),
  );
});

test('does defer through the retry service', async () => {
  const id = await submit(['x@later.example'], 'later');
  await mta.waitForLog(
    new RegExp(
      LINE(id, 'error', 'x@later.example') +
        'dsn=4\\.2\\.0, status=deferred \\(try tomorrow\\)',
    ),
  );
});

test('does discard and log the nexthop as reason', async () => {
  const id = await submit(['x@void.example'], 'void');
  await mta.waitForLog(
    new RegExp(
      LINE(id, 'discard', 'x@void.example') +
        'dsn=2\\.0\\.0, status=sent \\(silently dropped\\)',
    ),
  );
  await mta.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed`));
});

test('does send other remote mail to relayhost', async () => {
  const id = await submit(['zoe@far.example'], 'far');
  await mta.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed`));
  const got = sink.messages.find((m) => m.to.includes('zoe@far.example'));
  assert.ok(got, 'the sink got the message');
  assert.match(
    mta.log(),
    new RegExp(
      LINE(id, 'smtp', 'zoe@far.example') + 'dsn=2\\.0\\.0, status=sent',
    ),
  );
});

test('does reuse connections for a burst to one nexthop', async () => {
  const before = sink.connections;
  const delivered = sink.messages.length;
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  for (let i = 0; i < 20; i++)
    await smtp.send(
      'alice@localhost',
      [`b${i}@sink.example`],
      message(`b${i}`),
    );
  await smtp.command('QUIT');
  for (let i = 0; i < 200 && sink.messages.length < delivered + 20; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(sink.messages.length, delivered + 20);
  const used = sink.connections - before;
  assert.ok(used <= 10, `${used} connections for 20 messages`);
});
