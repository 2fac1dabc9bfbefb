// End to end through master (test/harness): canonical_maps,
// sender_canonical_maps and virtual_alias_maps in texthash tables, mail
// sent over SMTP, and what lands in the Maildirs and the log. smtpd's
// RCPT check for virtual alias domains is shown by its reply.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Instance, makeInstance, SmtpClient, waitForPort } from './harness';

const TABLES: Record<string, string> = {
  canonical: 'old@localhost bob@localhost\n',
  sender_canonical: 'carol@localhost carol.smith@localhost\n',
  virtual: [
    'valias.example anything',
    'info@valias.example alice@localhost, dave@localhost',
    'nested@valias.example info@valias.example',
    '',
  ].join('\n'),
};

let mta: Instance;

before(async () => {
  const table = (name: string) =>
    `texthash:${path.join('$config_directory', name)}`;
  mta = await makeInstance({
    main: {
      canonical_maps: table('canonical'),
      sender_canonical_maps: table('sender_canonical'),
      virtual_alias_maps: table('virtual'),
      recipient_delimiter: '+',
    },
  });
  for (const [name, text] of Object.entries(TABLES))
    fs.writeFileSync(path.join(mta.configDir, name), text);
  const started = mta.postfix('start');
  assert.equal(started.code, 0, started.stderr);
  await waitForPort(mta.smtpPort);
});

after(async () => {
  await mta?.destroy();
});

async function session(): Promise<SmtpClient> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  return smtp;
}

async function send(rcpt: string, headers: string[]): Promise<string> {
  const smtp = await session();
  try {
    const text = [...headers, '', 'body', ''].join('\n');
    return await smtp.send('carol@localhost', [rcpt], text);
  } finally {
    smtp.close();
  }
}

test('does deliver to the canonical address and map header addresses', async () => {
  const reply = await send('old@localhost', [
    'From: Carol <carol@localhost>',
    'To: "Old Name" <old@localhost>',
    'Subject: canonical',
  ]);
  assert.match(reply, /^250 /);
  const copy = (await mta.waitForMaildir('bob', 1)).find((m) =>
    m.includes('Subject: canonical'),
  );
  assert.ok(copy);
  assert.match(copy, /^X-Original-To: old@localhost$/m);
  assert.match(copy, /^Return-Path: <carol\.smith@localhost>$/m);
  assert.match(copy, /^From: Carol <carol\.smith@localhost>$/m);
  assert.match(copy, /^To: "Old Name" <bob@localhost>$/m);
});

test('does keep the extension of a recipient that canonical_maps maps', async () => {
  const reply = await send('old+tag@localhost', ['Subject: extension']);
  assert.match(reply, /^250 /);
  await mta.waitForLog(
    /to=<bob\+tag@localhost>, orig_to=<old\+tag@localhost>.*status=sent/,
  );
});

test('does expand a virtual alias recursively to many recipients', async () => {
  const reply = await send('nested@valias.example', ['Subject: virtual']);
  assert.match(reply, /^250 /);
  for (const user of ['alice', 'dave']) {
    const [copy] = await mta.waitForMaildir(user, 1);
    assert.match(copy, /^Subject: virtual$/m);
    assert.match(copy, /^X-Original-To: nested@valias\.example$/m);
  }
  await mta.waitForLog(
    /to=<alice@localhost>, orig_to=<nested@valias\.example>/,
  );
});

test('does refuse at RCPT a user of a virtual alias domain without a mapping', async () => {
  const smtp = await session();
  try {
    await smtp.command('MAIL FROM:<carol@localhost>');
    const reply = await smtp.command('RCPT TO:<nobody@valias.example>');
    assert.equal(
      reply,
      '550 5.1.1 <nobody@valias.example>: Recipient address rejected: ' +
        'User unknown in virtual alias table',
    );
    const known = await smtp.command('RCPT TO:<info@valias.example>');
    assert.match(known, /^250 /);
  } finally {
    smtp.close();
  }
});

// pickup asks cleanup for the same mapping as smtpd (Postfix's external
// flags), so local submission meets virtual_alias_maps too.
test('does expand a virtual alias for mail submitted with sendmail', async () => {
  const r = mta.command(
    'sendmail',
    ['-f', 'carol@localhost', 'nested@valias.example'],
    'Subject: through sendmail\n\nbody\n',
  );
  assert.equal(r.code, 0, r.stderr);
  // Each has the copy of the SMTP test above, then this one.
  for (const user of ['alice', 'dave']) {
    const box = await mta.waitForMaildir(user, 2);
    assert.ok(box.some((m) => m.includes('Subject: through sendmail')));
  }
});
