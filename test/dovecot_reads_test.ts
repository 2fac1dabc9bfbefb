// Dovecot reads the mailboxes that local writes: mail sent over SMTP to
// a started instance lands in a Maildir and in an mbox spool file, and a
// real Dovecot (its auth service only, a private configuration) counts
// and fetches each message with doveadm. Needs root and dovecot-core
// (scripts/ci_packages.sh installs it); skipped, saying why, without.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRoot, SmtpClient, startInstance, type Instance } from './harness';

const HAS_DOVEADM =
  cp.spawnSync('doveadm', ['help'], { stdio: 'ignore' }).error === undefined;
const skip = !isRoot()
  ? 'needs root to run Dovecot'
  : !HAS_DOVEADM
    ? 'needs doveadm (dovecot-core)'
    : false;

interface Dovecot {
  conf: string;
  stop(): Promise<unknown>;
}

// mail_location as Dovecot is told to find the user's mail; the files
// are mail_owner's, as local writes them for a user without a passwd
// entry, so Dovecot reads them with those rights.
function startDovecot(dir: string, mailLocation: string): Dovecot {
  const conf = path.join(dir, 'dovecot.conf');
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  fs.chownSync(home, ...postfixIds());
  fs.writeFileSync(
    conf,
    [
      'protocols =',
      `base_dir = ${dir}/run`,
      `state_dir = ${dir}/state`,
      `log_path = ${dir}/dovecot.log`,
      'ssl = no',
      `mail_location = ${mailLocation}`,
      'passdb {\n  driver = static\n  args = nopassword=y\n}',
      'userdb {',
      '  driver = static',
      `  args = uid=postfix gid=postfix home=${home}/%u`,
      '}',
      '',
    ].join('\n'),
  );
  // In the foreground (-F): a daemonized Dovecot keeps our pipes open.
  const child = cp.spawn('dovecot', ['-c', conf, '-F'], { stdio: 'ignore' });
  return {
    conf,
    stop: () => {
      child.kill('SIGTERM');
      return new Promise<void>((resolve) =>
        child.exitCode === null
          ? child.once('exit', () => resolve())
          : resolve(),
      );
    },
  };
}

function postfixIds(): [number, number] {
  const id = (flag: string) =>
    Number(cp.spawnSync('id', [flag, 'postfix'], { encoding: 'utf8' }).stdout);
  return [id('-u'), id('-g')];
}

function doveadm(d: Dovecot, args: string[]): string {
  for (let i = 0; ; i++) {
    const r = cp.spawnSync('doveadm', ['-c', d.conf, ...args], {
      encoding: 'utf8',
    });
    if (r.status === 0) return r.stdout;
    // The auth service may not be listening yet just after start.
    if (i >= 40) throw new Error(`doveadm ${args.join(' ')}: ${r.stderr}`);
    cp.spawnSync('sleep', ['0.1']);
  }
}

async function sendTwo(mta: Instance, user: string): Promise<void> {
  for (const subject of ['first', 'second']) {
    const smtp = await SmtpClient.connect(mta.smtpPort);
    try {
      await smtp.reply();
      await smtp.command('EHLO client.test.example');
      const body = `Subject: ${subject}\r\n\r\nFrom the start\r\n.dot\r\n`;
      const reply = await smtp.send(
        'a@test.example',
        [`${user}@localhost`],
        body,
      );
      assert.match(reply, /^250 /);
    } finally {
      smtp.close();
    }
  }
}

// What Dovecot sees: the count, then each message's subject and body
// (in an mbox the body's "From " line stays quoted as ">From ", as
// Dovecot keeps it).
function assertSeen(d: Dovecot, user: string): void {
  const status = doveadm(d, [
    'mailbox',
    'status',
    '-u',
    user,
    'messages',
    'INBOX',
  ]);
  assert.match(status, /messages=2/);
  const out = doveadm(d, [
    'fetch',
    '-u',
    user,
    'hdr.subject body',
    'mailbox',
    'INBOX',
    'all',
  ]);
  assert.match(out, /hdr\.subject: first\nbody:\n>?From the start\n\.dot\n/);
  assert.match(out, /hdr\.subject: second\n/);
}

test(
  'does let Dovecot read the Maildir that local writes',
  { skip },
  async () => {
    const mta = await startInstance();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dovecot-reads-'));
    let dovecot: Dovecot | undefined;
    try {
      await sendTwo(mta, 'reader');
      await mta.waitForMaildir('reader', 2);
      dovecot = startDovecot(dir, `maildir:${mta.mailDir}/%u`);
      assertSeen(dovecot, 'reader');
    } finally {
      await dovecot?.stop();
      await mta.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

// The mbox: From_ lines, the body's "From " quoted, and the dot-lock and
// fcntl lock that Dovecot honours.
test('does let Dovecot read the mbox that local writes', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dovecot-reads-'));
  fs.chmodSync(dir, 0o755); // Dovecot runs as postfix below it
  const spool = path.join(dir, 'spool');
  fs.mkdirSync(spool);
  fs.chownSync(spool, ...postfixIds());
  const mta = await startInstance({ main: { mail_spool_directory: spool } });
  let dovecot: Dovecot | undefined;
  try {
    await sendTwo(mta, 'reader');
    const box = path.join(spool, 'reader');
    const froms = () =>
      fs.existsSync(box)
        ? (fs.readFileSync(box, 'latin1').match(/^From /gm) ?? []).length
        : 0;
    for (let i = 0; i < 200 && froms() < 2; i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(froms(), 2, mta.log());
    assert.match(fs.readFileSync(box, 'latin1'), /^>From the start$/m);
    dovecot = startDovecot(dir, `mbox:${dir}/home/%u/mail:INBOX=${spool}/%u`);
    assertSeen(dovecot, 'reader');
  } finally {
    await dovecot?.stop();
    await mta.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
