// End to end through master (test/harness): sendmail -t takes Bcc:
// recipients from the headers and cleanup removes the Bcc: header
// (message_drop_headers), so that no copy shows who else got it; over
// SMTP the header goes or stays as message_drop_headers says.
// Not tested: a message_drop_headers without bcc, since our sendmail -t
// also removes Bcc: itself (submit_message.ts), unlike Postfix's.

import test from 'node:test';
import assert from 'node:assert/strict';
import { SmtpClient, startInstance } from './harness';

const MESSAGE = [
  'From: carol@localhost',
  'To: alice@localhost',
  'Bcc: bob@localhost',
  'Subject: blind copy',
  '',
  'body',
  '',
].join('\n');

const TABLE: Array<[string, Record<string, string>, boolean]> = [
  ['the default message_drop_headers', {}, false],
];

for (const [name, main, kept] of TABLE) {
  test(`does deliver Bcc recipients of sendmail -t with ${name}`, async () => {
    const mta = await startInstance({ main });
    try {
      const run = mta.command(
        'sendmail',
        ['-t', '-f', 'carol@localhost'],
        MESSAGE,
      );
      assert.equal(run.code, 0, run.stderr);
      for (const user of ['alice', 'bob']) {
        const [copy] = await mta.waitForMaildir(user, 1);
        assert.match(copy, /^Subject: blind copy$/m, user);
        assert.equal(/^Bcc:/m.test(copy), kept, user);
      }
    } finally {
      await mta.destroy();
    }
  });
}

// Over SMTP nobody but cleanup touches the header.
const SMTP_TABLE: Array<[string, Record<string, string>, boolean]> = [
  ['the default message_drop_headers', {}, false],
  [
    'message_drop_headers without bcc',
    { message_drop_headers: 'x-drop' },
    true,
  ],
];

for (const [name, main, kept] of SMTP_TABLE) {
  test(`does ${kept ? 'keep' : 'remove'} Bcc: of SMTP mail with ${name}`, async () => {
    const mta = await startInstance({ main });
    try {
      const smtp = await SmtpClient.connect(mta.smtpPort);
      await smtp.reply();
      await smtp.command('EHLO client.test.example');
      await smtp.send('carol@localhost', ['alice@localhost'], MESSAGE);
      await smtp.command('QUIT');
      const [copy] = await mta.waitForMaildir('alice', 1);
      assert.equal(/^Bcc: bob@localhost$/m.test(copy), kept);
    } finally {
      await mta.destroy();
    }
  });
}
