// End to end through master (test/harness): the flush service that
// master.cf starts serves postqueue -s site, postqueue -i queue_id and
// sendmail -qR and ETRN: a message deferred for 300 seconds is delivered at once
// (issue 5 point 7, fast_flush_domains); a site not listed is refused.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  message,
  queueIdOf,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';
import { startSink, type SmtpSink } from './sink/smtp_sink';

let mta: Instance;
let sink: SmtpSink;
let tries = 0;

// RCPT fails once per message subject's first try: every odd attempt.
test.before(async () => {
  sink = await startSink({
    rcpt: () =>
      ++tries % 2 === 1 ? '450 4.2.0 try again later\r\n' : '250 2.1.5 Ok\r\n',
  });
  mta = await startInstance({
    main: {
      transport_maps: `inline:{ { x.example = smtp:[127.0.0.1]:${sink.port} } }`,
      fast_flush_domains: 'x.example',
    },
  });
});

test.after(async () => {
  await mta.destroy();
  await sink.close();
});

async function deferOne(subject: string): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const reply = await smtp.send(
    'alice@localhost',
    ['bob@x.example'],
    message(subject),
  );
  await smtp.command('QUIT');
  const id = queueIdOf(reply);
  await mta.waitForLog(
    new RegExp(`${id}: to=<bob@x\\.example>, .*status=deferred`),
  );
  return id;
}

const FLUSHES: Array<[string, string, (id: string) => string[]]> = [
  ['postqueue -s site', 'postqueue', () => ['-s', 'x.example']],
  ['postqueue -i queue_id', 'postqueue', (id) => ['-i', id]],
  ['sendmail -qRsite', 'sendmail', () => ['-qRx.example']],
];

for (const [name, command, args] of FLUSHES) {
  test(`does deliver deferred mail at once on ${name}`, async () => {
    const id = await deferOne(name);
    const run = mta.command(command, args(id));
    assert.equal(run.code, 0, run.stderr);
    await mta.waitForLog(new RegExp(`${id}: removed`));
    assert.match(
      mta.log(),
      new RegExp(`${id}: to=<bob@x\\.example>, .*status=sent`),
    );
  });
}

test('does refuse postqueue -s for a site not in fast_flush_domains', async () => {
  const run = mta.command('postqueue', ['-s', 'other.example']);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /postqueue: fatal: /);
});

test('does deliver deferred mail at once on ETRN, and refuses other sites', async () => {
  const id = await deferOne('etrn');
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  assert.equal(await smtp.command('ETRN x.example'), '250 Queuing started');
  assert.equal(
    await smtp.command('ETRN other.example'),
    '459 <other.example>: service unavailable',
  );
  await smtp.command('QUIT');
  await mta.waitForLog(new RegExp(`${id}: removed`));
});
