// smtpd as a user runs it: `postfix start-fg` in a temporary instance
// with an smtpd inet service on a free loopback port, cleanup and qmgr
// from master.cf; one SMTP session, then the mail log must hold smtpd's
// lines in Postfix's shape and qmgr must have picked the message up.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SmtpTestClient } from '../services/smtpd/smtpd_testkit';

const ROOT = path.join(__dirname, '..', '..');
const POSTFIX = path.join(ROOT, 'dist', 'packages', 'commands', 'postfix.js');

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

function writeInstance(dir: string, port: number): string {
  const etc = path.join(dir, 'etc');
  fs.mkdirSync(etc);
  const root = process.getuid?.() === 0;
  const lines = [
    `queue_directory = ${path.join(dir, 'queue')}`,
    `data_directory = ${path.join(dir, 'data')}`,
    'myhostname = mx.example.com',
    'mynetworks = 127.0.0.0/8',
    'local_recipient_maps =',
    ...(root ? ['mail_owner = nobody', 'setgid_group = nogroup'] : []),
  ];
  fs.writeFileSync(path.join(etc, 'main.cf'), lines.join('\n') + '\n');
  const shipped = fs.readFileSync(path.join(ROOT, 'master.cf'), 'utf8');
  const wanted = shipped.split('\n').filter((l) => /^(cleanup|qmgr)\s/.test(l));
  wanted.push(`127.0.0.1:${port} inet n - n - - smtpd`);
  fs.writeFileSync(path.join(etc, 'master.cf'), wanted.join('\n') + '\n');
  return etc;
}

async function waitFor(
  read: () => string,
  re: RegExp,
  ms = 15000,
): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = read()
      .split('\n')
      .find((l) => re.test(l));
    if (hit) return hit;
    if (Date.now() > deadline)
      throw new Error(`no line matching ${re}:\n${read()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function talk(c: SmtpTestClient, line: string): Promise<string> {
  c.send(line);
  const r = await c.reply();
  return r ? r[r.length - 1] : '<closed>';
}

test('does accept a message and log Postfix smtpd lines when started by postfix start-fg', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-master-'));
  fs.chmodSync(dir, 0o755); // mail_owner must reach its queue
  const port = await freePort();
  const etc = writeInstance(dir, port);
  let out = '';
  const master = cp.spawn(process.execPath, [POSTFIX, '-c', etc, 'start-fg'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  master.stdout.on('data', (d) => (out += d));
  master.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => master.once('exit', r));
  try {
    await waitFor(() => out, /postfix\/master\[\d+\]: daemon started/);
    const c = await SmtpTestClient.connect(port);
    assert.equal((await c.reply())![0], '220 mx.example.com ESMTP Postfix');
    assert.match(await talk(c, 'EHLO client.example'), /^250 CHUNKING$/);
    assert.equal(await talk(c, 'MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    assert.equal(await talk(c, 'RCPT TO:<bob@mx.example.com>'), '250 2.1.5 Ok');
    assert.match(await talk(c, 'DATA'), /^354 /);
    const queued = await talk(c, 'Subject: e2e\r\n\r\nhello\r\n.');
    const id = /^250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)$/.exec(queued)?.[1];
    assert.ok(id, queued);
    assert.equal(await talk(c, 'QUIT'), '221 2.0.0 Bye');
    c.close();
    await waitFor(
      () => out,
      /postfix\/smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]$/,
    );
    await waitFor(
      () => out,
      new RegExp(
        `postfix/smtpd\\[\\d+\\]: ${id}: client=localhost\\[127\\.0\\.0\\.1\\]$`,
      ),
    );
    await waitFor(
      () => out,
      /postfix\/smtpd\[\d+\]: disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5$/,
    );
    await waitFor(
      () => out,
      new RegExp(
        `postfix/qmgr\\[\\d+\\]: ${id}: from=<a@client\\.example>, size=\\d+, nrcpt=1 \\(queue active\\)`,
      ),
    );
  } finally {
    master.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
