// The access(5) HOLD action: the message is accepted into hold/ (not
// delivered), smtpd logs "hold:", mailq marks it with "!", and
// postsuper -H releases it for delivery.

import test from 'node:test';
import assert from 'node:assert/strict';
import { message, queueIdOf, SmtpClient, startInstance } from './harness';

test('does put mail on hold for a HOLD action and deliver it once released', async () => {
  const mta = await startInstance({
    main: { smtpd_client_restrictions: 'check_client_access static:HOLD' },
  });
  try {
    const smtp = await SmtpClient.connect(mta.smtpPort);
    await smtp.reply();
    await smtp.command('EHLO client.test.example');
    const id = queueIdOf(
      await smtp.send('a@test.example', ['held@localhost'], message('held')),
    );
    await smtp.command('QUIT');
    assert.equal(mta.queueFiles('hold').length, 1);
    assert.match(
      mta.log(),
      /NOQUEUE: hold: RCPT from localhost\[127\.0\.0\.1\]: <localhost\[127\.0\.0\.1\]>: Client host triggers HOLD action; from=<a@test\.example> to=<held@localhost> proto=ESMTP helo=<client\.test\.example>/,
    );
    const mailq = mta.command('mailq', []);
    assert.match(mailq.stdout, new RegExp(`^${id}!`, 'm'));
    assert.equal(mta.maildir('held').length, 0);
    assert.equal(mta.command('postsuper', ['-H', id]).code, 0);
    mta.postfix('flush');
    await mta.waitForMaildir('held', 1);
  } finally {
    await mta.destroy();
  }
});
