// virtual(8) end to end: a whole instance started with "postfix start",
// mail over SMTP to a virtual mailbox domain, delivered into a Maildir
// and an mbox under virtual_mailbox_base with the mapped uid and gid;
// an unknown user of the domain is refused at RCPT.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  isRoot,
  message,
  sleep,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';

// As root the mailboxes belong to an unprivileged uid of the maps; as a
// user, to that user (virtual_minimum_uid lowered to allow it).
const UID = isRoot() ? 5000 : process.getuid!();
const GID = isRoot() ? 5000 : process.getgid!();

async function virtualInstance(): Promise<{ mta: Instance; base: string }> {
  const dir = fs.mkdtempSync('/tmp/vbase-');
  const base = path.join(dir, 'vmail');
  fs.mkdirSync(base);
  fs.chmodSync(dir, 0o755);
  fs.chownSync(base, UID, GID);
  const maps = path.join(dir, 'vmailbox');
  fs.writeFileSync(
    maps,
    'ann@v.example v.example/ann/\nbob@v.example v.example/bob.mbox\n',
  );
  const mta = await startInstance({
    main: {
      virtual_mailbox_domains: 'v.example',
      virtual_mailbox_maps: `texthash:${maps}`,
      virtual_mailbox_base: base,
      virtual_uid_maps: `static:${UID}`,
      virtual_gid_maps: `static:${GID}`,
      virtual_minimum_uid: String(Math.max(1, Math.min(UID, 100))),
      recipient_delimiter: '+',
      virtual_mailbox_limit: '4000',
    },
  });
  fs.mkdirSync(path.join(base, 'v.example'));
  fs.chownSync(path.join(base, 'v.example'), UID, GID);
  return { mta, base: dir };
}

async function waitFor<T>(
  fn: () => T | undefined,
  what: string,
  log: () => string,
) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`no ${what}:\n${log()}`);
    await sleep(100);
  }
}

function newFiles(dir: string): string[] | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const names = fs.readdirSync(dir);
  return names.length ? names.map((n) => path.join(dir, n)) : undefined;
}

test('virtual delivers to Maildir and mbox and refuses unknown users', async (t) => {
  const { mta, base } = await virtualInstance();
  t.after(async () => {
    await mta.destroy();
    fs.rmSync(base, { recursive: true, force: true });
  });
  const smtp = await SmtpClient.connect(mta.smtpPort);
  t.after(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example');

  await t.test('does refuse an unknown virtual user at RCPT', async () => {
    await smtp.command('MAIL FROM:<s@test.example>');
    const r = await smtp.command('RCPT TO:<nobody@v.example>');
    assert.equal(
      r,
      '550 5.1.1 <nobody@v.example>: Recipient address rejected: ' +
        'User unknown in virtual mailbox table',
    );
    await smtp.command('RSET');
  });

  await t.test(
    'does deliver to a Maildir when the map value ends in /',
    async () => {
      const reply = await smtp.send(
        's@test.example',
        ['ann+box@v.example'],
        message('to maildir'),
      );
      assert.match(reply, /^250 /, mta.log());
      const box = path.join(base, 'vmail', 'v.example', 'ann');
      const files = await waitFor(
        () => newFiles(path.join(box, 'new')),
        'maildir',
        () => mta.log(),
      );
      const text = fs.readFileSync(files[0], 'utf8');
      assert.match(text, /^Return-Path: <s@test.example>\n/);
      assert.match(text, /\nDelivered-To: ann\+box@v\.example\n/);
      assert.match(text, /Subject: to maildir/);
      const st = fs.statSync(files[0]);
      assert.deepEqual([st.uid, st.gid], [UID, GID]);
      assert.deepEqual(
        [fs.statSync(box).uid, fs.statSync(box).gid],
        [UID, GID],
      );
      await mta.waitForLog(
        /to=<ann\+box@v\.example>, relay=virtual, .*status=sent \(delivered to maildir\)/,
      );
    },
  );

  await t.test('does deliver to an mbox file otherwise', async () => {
    const reply = await smtp.send(
      '',
      ['bob@v.example'],
      message('to mbox', 'From here on\nbody'),
    );
    assert.match(reply, /^250 /, mta.log());
    const file = path.join(base, 'vmail', 'v.example', 'bob.mbox');
    const text = await waitFor(
      () =>
        fs.existsSync(file) && fs.statSync(file).size > 0
          ? fs.readFileSync(file, 'utf8')
          : undefined,
      'mbox',
      () => mta.log(),
    );
    assert.match(text, /^From MAILER-DAEMON  \w{3} \w{3} [ \d]\d /);
    assert.match(text, /\nReturn-Path: <>\n/);
    assert.match(text, /\nDelivered-To: bob@v\.example\n/);
    assert.match(text, /\n>From here on\n/);
    const st = fs.statSync(file);
    assert.deepEqual([st.uid, st.gid], [UID, GID]);
    await mta.waitForLog(
      /to=<bob@v\.example>, relay=virtual, .*status=sent \(delivered to mailbox\)/,
    );
  });

  await t.test('does bounce a message over virtual_mailbox_limit', async () => {
    const reply = await smtp.send(
      's@test.example',
      ['ann@v.example'],
      message('too big', 'x'.repeat(70) + '\n'.repeat(1) + 'y'.repeat(5000)),
    );
    assert.match(reply, /^250 /, mta.log());
    await mta.waitForLog(
      /to=<ann@v\.example>, relay=virtual, .*dsn=5\.2\.2, status=bounced \(maildir delivery failed: .*File too large\)/,
    );
  });

  await t.test(
    'does bounce mail that carries its Delivered-To: already',
    async () => {
      const reply = await smtp.send(
        's@test.example',
        ['bob@v.example'],
        'Delivered-To: bob@v.example\r\nSubject: loop\r\n\r\nx\r\n',
      );
      assert.match(reply, /^250 /, mta.log());
      await mta.waitForLog(
        /to=<bob@v\.example>, relay=virtual, .*dsn=5\.4\.6, status=bounced \(mail forwarding loop for bob@v\.example\)/,
      );
    },
  );
});
