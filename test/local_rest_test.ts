// local rests with mail_owner's rights between deliveries (local_user.ts
// restAs): deliveries that need root's rights or another user's after
// such a rest still work, end to end: an alias to a command and one to
// a file (both as default_privs), then the Maildir again.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sleep, SmtpClient, startInstance, type Instance } from './harness';

async function sendTo(mta: Instance, rcpt: string): Promise<void> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  try {
    await smtp.reply();
    await smtp.command('EHLO rest.test.example');
    const reply = await smtp.send(
      'a@test.example',
      [rcpt],
      'Subject: r\r\n\r\nx\r\n',
    );
    assert.match(reply, /^250 /);
  } finally {
    smtp.close();
  }
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check() && Date.now() < deadline) await sleep(100);
  assert.ok(check(), what);
}

test(
  'does deliver to a command and a file alias between Maildir deliveries as mail_owner',
  { skip: process.geteuid?.() !== 0 && 'needs root' },
  async () => {
    const mta = await startInstance({ start: false });
    const out = path.join(mta.dir, 'out');
    fs.mkdirSync(out, { mode: 0o777 });
    fs.chmodSync(out, 0o777);
    const aliases = [
      `tocmd: "|/bin/sh -c 'cat > ${out}/cmd.txt'"`,
      `tofile: ${out}/file.mbox`,
    ];
    fs.writeFileSync(
      path.join(mta.configDir, 'aliases'),
      aliases.join('\n') + '\n',
    );
    assert.equal(mta.postfix('start').code, 0);
    try {
      await sendTo(mta, 'rest@localhost');
      await mta.waitForMaildir('rest', 1);
      await sendTo(mta, 'tocmd@localhost');
      await waitFor(() => fs.existsSync(`${out}/cmd.txt`), 'command ran');
      await sendTo(mta, 'tofile@localhost');
      await waitFor(() => fs.existsSync(`${out}/file.mbox`), 'file written');
      await sendTo(mta, 'rest@localhost');
      await mta.waitForMaildir('rest', 2);
      await waitFor(
        () => /Subject: r/.test(fs.readFileSync(`${out}/cmd.txt`, 'utf8')),
        'command got the message',
      );
      assert.match(fs.readFileSync(`${out}/file.mbox`, 'utf8'), /^From /);
      assert.notEqual(fs.statSync(`${out}/file.mbox`).uid, 0);
    } finally {
      await mta.destroy();
    }
  },
);
