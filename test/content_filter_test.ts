// End to end: content_filter and the FILTER action route a message whole
// to a filter transport (here smtp to a second smtpd of the same instance
// that re-injects with "-o content_filter=", as FILTER_README's after-queue
// set-up does; it greets with its own name, as a filter does, or smtp
// would refuse to loop back to itself), and the mail reaches the Maildir
// once.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  freePort,
  makeInstance,
  message,
  queueIdOf,
  SmtpClient,
  startInstance,
  waitForPort,
  type Instance,
} from './harness';

async function sendOver(mta: Instance, subject: string): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const id = queueIdOf(
    await smtp.send('a@test.example', ['bob@localhost'], message(subject)),
  );
  await smtp.command('QUIT');
  smtp.close();
  return id;
}

// The filter's relay line for the first message, then local's for the
// message the re-injecting smtpd queued.
async function throughFilter(mta: Instance, id: string, port: number) {
  const relay = await mta.waitForLog(
    new RegExp(
      `smtp\\[\\d+\\]: ${id}: to=<bob@localhost>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${port}, .*status=sent \\(250 2\\.0\\.0 Ok: queued as [0-9A-Za-z]+\\)`,
    ),
  );
  const next = queueIdOf(relay);
  await mta.waitForLog(
    new RegExp(`local\\[\\d+\\]: ${next}: to=<bob@localhost>, .*status=sent`),
  );
}

async function withFilter(
  main: Record<string, string>,
  run: (mta: Instance, port: number) => Promise<void>,
): Promise<void> {
  const port = await freePort();
  const mta = await startInstance({
    main: {
      ...main,
      content_filter: (main.content_filter ?? '').replace(
        '@PORT@',
        String(port),
      ),
    },
    master: [
      `127.0.0.1:${port} inet n - n - - smtpd -o content_filter= -o myhostname=filter.test.example`,
    ],
  });
  try {
    await run(mta, port);
  } finally {
    await mta.destroy();
  }
}

test('does send all mail to content_filter, and deliver what it re-injects once', async () => {
  await withFilter(
    { content_filter: 'smtp:[127.0.0.1]:@PORT@' },
    async (mta, port) => {
      await throughFilter(mta, await sendOver(mta, 'filtered'), port);
      const sent = mta.command('sendmail', ['bob@localhost'], message('local'));
      assert.equal(sent.code, 0, sent.stderr);
      const id = (
        await mta.waitForLog(/pickup\[\d+\]: ([0-9A-Z]+): uid=/)
      ).match(/: ([0-9A-Za-z]+): uid=/)![1];
      await throughFilter(mta, id, port);
      const mails = await mta.waitForMaildir('bob', 2);
      assert.equal(mails.length, 2);
      assert.equal(
        mails.filter((m) => /^Subject: filtered/m.test(m)).length,
        1,
      );
    },
  );
});

test('does send a message to the filter a header_checks FILTER action names', async () => {
  const port = await freePort();
  // FILTER_README's re-injection smtpd: no filter and no header checks,
  // or the copy would be sent to the filter again.
  const mta = await makeInstance({
    start: false,
    master: [
      `127.0.0.1:${port} inet n - n - - smtpd -o content_filter= ` +
        '-o myhostname=filter.test.example ' +
        '-o receive_override_options=no_header_body_checks',
    ],
  });
  try {
    const checks = path.join(mta.configDir, 'header_checks');
    fs.writeFileSync(
      checks,
      `/^Subject: scan me/ FILTER smtp:[127.0.0.1]:${port}\n`,
    );
    fs.appendFileSync(
      path.join(mta.configDir, 'main.cf'),
      `header_checks = regexp:${checks}\n`,
    );
    assert.equal(mta.postfix('start').code, 0, mta.log());
    await waitForPort(mta.smtpPort);
    const id = await sendOver(mta, 'scan me');
    await mta.waitForLog(
      new RegExp(`cleanup\\[\\d+\\]: ${id}: filter: header Subject: scan me`),
    );
    await throughFilter(mta, id, port);
    assert.equal((await mta.waitForMaildir('bob', 1)).length, 1);
  } finally {
    await mta.destroy();
  }
});
