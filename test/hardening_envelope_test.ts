// Envelope fields with CR, LF, NUL or other control bytes are refused at
// each way in: SMTP (smtpd), sendmail and postdrop. A refused field must
// never reach a queue file, where it would become a header of a
// delivered message or of a delivery status notification.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SmtpTestClient, startInstance } from '../services/smtpd/smtpd_testkit';
import {
  queueNames,
  runCommand,
  startSubmitInstance,
} from '../packages/commands/submit_testkit';
import { decodeRecords, encodeRecord } from '../packages/queue/record';

// [what, the command line as sent (without CR LF), the reply].
const SMTP_REFUSALS: Array<[string, string, string]> = [
  [
    'a CR inside the sender',
    'MAIL FROM:<a\rb@b.example>',
    '501 5.1.7 Bad sender address syntax',
  ],
  [
    'a CR in a quoted local part',
    'MAIL FROM:<"a\\\rb"@b.example>',
    '501 5.1.7 Bad sender address syntax',
  ],
  [
    'a NUL in the command',
    'MAIL FROM:<a\0b@b.example>',
    '500 5.5.2 Error: bad syntax',
  ],
  [
    'a control byte in the sender',
    'MAIL FROM:<a\x01b@b.example>',
    '501 5.1.7 Bad sender address syntax',
  ],
  [
    'a bare LF that splits the sender',
    'MAIL FROM:<a@b.example\n>',
    '501 5.1.7 Bad sender address syntax',
  ],
  [
    'CR LF hidden in ENVID xtext',
    'MAIL FROM:<a@b.example> ENVID=a+0D+0AX-Injected:+20yes',
    '501 5.5.4 Error: Bad ENVID parameter syntax',
  ],
  [
    'an ENVID over 100 characters',
    `MAIL FROM:<a@b.example> ENVID=${'e'.repeat(101)}`,
    '501 5.5.4 Error: Bad ENVID parameter syntax',
  ],
  [
    'CR LF hidden in ORCPT xtext',
    'MAIL FROM:<a@b.example>\r\nRCPT TO:<u@mx.example.com> ORCPT=rfc822;a+0D+0Ab@c',
    '501 5.5.4 Error: Bad ORCPT parameter syntax',
  ],
  [
    'a CR inside the recipient',
    'MAIL FROM:<a@b.example>\r\nRCPT TO:<u\r@mx.example.com>',
    '501 5.1.3 Bad recipient address syntax',
  ],
  [
    'an over-long recipient line',
    `MAIL FROM:<a@b.example>\r\nRCPT TO:<${'u'.repeat(5000)}@mx.example.com>`,
    '501 5.1.3 Bad recipient address syntax',
  ],
];

test('smtpd does refuse CR, LF, NUL and control bytes in envelope fields', async () => {
  const inst = await startInstance({ smtpd_forbid_unauth_pipelining: 'no' });
  try {
    for (const [what, line, want] of SMTP_REFUSALS) {
      const c = await SmtpTestClient.connect(inst.port);
      await c.reply();
      c.send('EHLO client.example.org');
      await c.reply();
      c.write(line + '\r\n');
      if (line.includes('\r\nRCPT')) await c.reply(); // MAIL's 250
      assert.deepEqual(await c.reply(), [want], what);
      c.close();
    }
    assert.deepEqual(inst.queued, []);
  } finally {
    await inst.close();
  }
});

test('smtpd does store no CR when a command line ends in CR CR LF', async () => {
  const inst = await startInstance();
  try {
    const c = await SmtpTestClient.connect(inst.port);
    await c.reply();
    const lines = [
      'EHLO client.example.org\r',
      'MAIL FROM:<a@b.example>\r',
      'RCPT TO:<u@mx.example.com>\r',
      'DATA',
    ];
    for (const l of lines) {
      c.send(l);
      await c.reply();
    }
    c.write('Subject: x\r\n\r\nbody\r\n.\r\n');
    assert.match((await c.reply())?.[0] ?? '', /^250 2\.0\.0 Ok: queued as /);
    c.close();
    const [m] = inst.queued;
    const envelope = m.records.filter((r) => 'SRAO'.includes(r.type));
    for (const r of envelope) assert.doesNotMatch(r.data, /[\r\n\0]/, r.data);
    assert.ok(envelope.some((r) => r.type === 'S' && r.data === 'a@b.example'));
  } finally {
    await inst.close();
  }
});

// [what, sendmail arguments, exit status, standard error].
const SENDMAIL_REFUSALS: Array<[string, string[], number, RegExp]> = [
  [
    'LF in -f',
    ['-f', 'a\nX-Injected: yes', 'u@x.example'],
    64,
    /^sendmail: fatal: -f option specified malformed address: /,
  ],
  [
    'CR in -f',
    ['-f', 'a\rb@x.example', 'u@x.example'],
    64,
    /^sendmail: fatal: -f option specified malformed address: /,
  ],
  [
    'LF in a recipient',
    ['-f', 'a@x.example', 'u\n@x.example'],
    65,
    /^sendmail: fatal: bad address syntax: /,
  ],
  [
    'CR LF in -V',
    ['-f', 'a@x.example', '-V', 'id\r\nX: y', 'u@x.example'],
    64,
    /^sendmail: fatal: bad -V option value: /,
  ],
];

test('sendmail does refuse CR and LF in envelope arguments and writes no file', async () => {
  const h = await startSubmitInstance();
  try {
    for (const [what, args, code, stderr] of SENDMAIL_REFUSALS) {
      const r = await h.sendmail(args, { input: 'Subject: s\n\nb\n' });
      assert.equal(r.code, code, `${what}: ${r.stderr}`);
      assert.match(r.stderr, stderr, what);
    }
    assert.deepEqual(queueNames(h.queueDir, 'maildrop'), []);
  } finally {
    await h.close();
  }
});

test('sendmail -F does fold a line break in the full name into a space', async () => {
  const h = await startSubmitInstance();
  try {
    const r = await h.sendmail(
      ['-F', 'Name\nX-Injected: yes', '-f', 'a@x.example', 'u@x.example'],
      { input: 'Subject: s\n\nb\n' },
    );
    assert.equal(r.code, 0, r.stderr);
    const [name] = queueNames(h.queueDir, 'maildrop');
    const file = path.join(h.queueDir, 'maildrop', name);
    const full = decodeRecords(fs.readFileSync(file)).find(
      (x) => x.type === 'F',
    );
    assert.equal(full?.data.toString(), 'Name X-Injected: yes');
  } finally {
    await h.close();
  }
});

const POSTDROP_REFUSALS: Array<[string, string, string]> = [
  ['S', 'a\r\nX-Injected: yes', 'CR LF in the sender'],
  ['S', 'a\0b@x', 'NUL in the sender'],
  ['R', 'r\n@y', 'LF in a recipient'],
  ['A', 'dsn_envid=a\r\nb', 'CR LF in an attribute'],
];

test('postdrop does refuse envelope records with CR, LF or NUL', async () => {
  const h = await startSubmitInstance();
  try {
    for (const [type, data, what] of POSTDROP_REFUSALS) {
      const recs: Array<[string, string]> = [
        ['S', type === 'S' ? data : 'a@x'],
        ...(type === 'S' ? [] : [[type, data] as [string, string]]),
        ['R', 'r@y'],
        ['M', ''],
        ['N', 'Subject: x'],
        ['X', ''],
        ['E', ''],
      ];
      const input = Buffer.concat(recs.map(([t, d]) => encodeRecord(t, d)));
      const r = await runCommand(h.configDir, 'postdrop', ['-r'], { input });
      assert.equal(r.code, 65, what);
      assert.match(r.stderr, /control character in record type \d+\n$/, what);
    }
    assert.deepEqual(queueNames(h.queueDir, 'maildrop'), []);
  } finally {
    await h.close();
  }
});

// A bare CR is no line end (Postfix's sendmail and cleanup keep it in the
// line), so "Bcc: evil" stays inside the To: header; Postfix's address
// parser then reads "Bcc:" as part of the next address, not as a group.
test('sendmail -t does keep the To: recipient when its line holds a bare CR', async () => {
  const h = await startSubmitInstance();
  try {
    const r = await h.sendmail(['-t'], {
      input: 'To: u@x.example\rBcc: evil@x.example\nSubject: s\n\nb\n',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await h.pickup(), 1);
    const [file] = h.incoming();
    const rcpts = decodeRecords(fs.readFileSync(file))
      .filter((x) => x.type === 'R')
      .map((x) => x.data.toString());
    assert.ok(rcpts.includes('u@x.example'), rcpts.join(' '));
    assert.ok(!rcpts.includes('evil@x.example'), rcpts.join(' '));
  } finally {
    await h.close();
  }
});
