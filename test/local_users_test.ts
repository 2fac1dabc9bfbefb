// local as root with real users made by useradd: mail is written with
// the recipient's uid and gid (home Maildir, spool mbox), .forward is
// read as the user and its commands run as the user. Skipped when not
// root; each test's users and folders are removed afterwards.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deliverRecipient } from '../services/local/local_recipient';
import { getpwnam } from '../services/local/local_user';
import type {
  DeliveryAttr,
  LocalSettings,
} from '../services/local/local_state';
import {
  maildirMessages,
  removeDir,
  tempDir,
  testContext,
  testMessage,
  writeQueueFile,
} from '../services/local/local_testkit';

const ROOT = process.getuid?.() === 0;

interface User {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function addUser(top: string, tag: string): User {
  const name = `lt${tag}${process.pid % 100000}`;
  const home = path.join(top, name);
  execFileSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', name]);
  const pw = getpwnam(name)!;
  return { name, uid: pw.uid, gid: pw.gid, home };
}

function removeUser(user: User): void {
  try {
    execFileSync('userdel', [user.name], { stdio: 'ignore' });
  } catch {
    // Already gone; the folder goes with the temp dir.
  }
}

function topAttr(recipient: string): DeliveryAttr {
  return {
    recipient,
    origRecipient: recipient,
    delivered: recipient,
    sender: 'alice@example.com',
    owner: '',
    level: 0,
    origin: 'recipient',
    expFrom: '',
    rights: null,
    unmatched: '',
  };
}

async function withUsers(
  settings: (top: string) => Partial<LocalSettings>,
  body: (top: string, a: User, b: User) => Promise<void>,
): Promise<void> {
  const top = tempDir('local-users-');
  const users: User[] = [];
  try {
    users.push(addUser(top, 'a'), addUser(top, 'b'));
    await body(top, users[0], users[1]);
  } finally {
    users.forEach(removeUser);
    removeDir(top);
  }
  void settings;
}

async function deliver(
  top: string,
  recipient: string,
  settings: Partial<LocalSettings>,
) {
  const q = writeQueueFile(top, {});
  const msg = testMessage(q);
  try {
    const ctx = testContext(msg, settings);
    await deliverRecipient(ctx, topAttr(recipient));
    return ctx;
  } finally {
    fs.closeSync(msg.fd);
  }
}

function owner(file: string): [number, number] {
  const st = fs.statSync(file);
  return [st.uid, st.gid];
}

test(
  'does write home Maildir files as the recipient',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a) => {
        const ctx = await deliver(top, `${a.name}@localhost`, {
          homeMailbox: 'Maildir/',
        });
        assert.deepEqual(
          ctx.log.map((l) => l.outcome.reason),
          ['delivered to maildir'],
        );
        const md = path.join(a.home, 'Maildir');
        const names = fs.readdirSync(path.join(md, 'new'));
        assert.equal(names.length, 1);
        assert.deepEqual(owner(path.join(md, 'new', names[0])), [a.uid, a.gid]);
        assert.deepEqual(owner(path.join(md, 'tmp')), [a.uid, a.gid]);
        assert.equal(process.geteuid!(), 0);
        // The gid stays for the next delivery's switch (local_user.ts).
        assert.equal(process.getegid!(), a.gid);
      },
    );
  },
);

test(
  'does create the spool mbox owned by the recipient',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a) => {
        const spool = path.join(top, 'spool');
        fs.mkdirSync(spool, { mode: 0o1777 });
        fs.chmodSync(spool, 0o1777);
        const ctx = await deliver(top, `${a.name}@localhost`, {
          mailSpoolDirectory: spool,
        });
        assert.equal(ctx.log[0].outcome.reason, 'delivered to mailbox');
        const box = path.join(spool, a.name);
        assert.deepEqual(owner(box), [a.uid, a.gid]);
        assert.equal(fs.statSync(box).mode & 0o777, 0o600);
        assert.match(fs.readFileSync(box, 'utf8'), /^From alice@example.com /);
      },
    );
  },
);

test(
  'does defer a spool mbox that another user owns',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a, b) => {
        const spool = path.join(top, 'spool');
        fs.mkdirSync(spool);
        fs.writeFileSync(path.join(spool, a.name), '');
        fs.chownSync(path.join(spool, a.name), b.uid, b.gid);
        const ctx = await deliver(top, `${a.name}@localhost`, {
          mailSpoolDirectory: spool,
        });
        assert.equal(ctx.log[0].outcome.status, 'deferred');
        assert.match(ctx.log[0].outcome.reason, /is not owned by recipient/);
      },
    );
  },
);

test(
  'does run .forward commands as the user and keep \\user copies',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a) => {
        const out = path.join(a.home, 'piped');
        const fwd = path.join(a.home, '.forward');
        fs.writeFileSync(fwd, `"|cat > ${out}", \\${a.name}\n`);
        fs.chownSync(fwd, a.uid, a.gid);
        const ctx = await deliver(top, `${a.name}@localhost`, {
          homeMailbox: 'Maildir/',
        });
        assert.deepEqual(
          ctx.log.map((l) => l.outcome.status),
          ['sent', 'sent'],
        );
        assert.deepEqual(owner(out), [a.uid, a.gid]);
        assert.ok(fs.readFileSync(out, 'utf8').includes('\nhello\n'));
        assert.equal(maildirMessages(path.join(a.home, 'Maildir')).length, 1);
      },
    );
  },
);

test(
  'does forward what a .forward sends to another local user',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a, b) => {
        const fwd = path.join(a.home, '.forward');
        fs.writeFileSync(fwd, `${b.name}\n`);
        fs.chownSync(fwd, a.uid, a.gid);
        const ctx = await deliver(top, `${a.name}@localhost`, {
          homeMailbox: 'Maildir/',
        });
        assert.deepEqual(
          ctx.forwards.map((f) => f.address),
          [`${b.name}@localhost`],
        );
        assert.equal(maildirMessages(path.join(b.home, 'Maildir')).length, 0);
      },
    );
  },
);

test(
  'does use .forward+ext before .forward for user+ext',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a) => {
        const out = path.join(a.home, 'ext');
        for (const [name, text] of [
          ['.forward+lists', `"|cat > ${out}"\n`],
          ['.forward', '/dev/null\n'],
        ]) {
          fs.writeFileSync(path.join(a.home, name), text);
          fs.chownSync(path.join(a.home, name), a.uid, a.gid);
        }
        const ctx = await deliver(top, `${a.name}+lists@localhost`, {
          recipientDelimiter: '+',
        });
        assert.match(
          ctx.log[0].outcome.reason,
          /^delivered to command: cat > /,
        );
        assert.ok(fs.existsSync(out));
      },
    );
  },
);

test(
  'does defer when the home directory cannot be reached',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a) => {
        fs.rmSync(a.home, { recursive: true });
        const ctx = await deliver(top, `${a.name}@localhost`, {});
        assert.equal(ctx.log[0].outcome.dsn, '4.3.0');
        assert.match(
          ctx.log[0].outcome.reason,
          /^cannot access home directory /,
        );
      },
    );
  },
);

test(
  'does run mailbox_command as the user with its environment',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a) => {
        const out = path.join(a.home, 'mbox-cmd');
        const ctx = await deliver(top, `${a.name}+x@localhost`, {
          recipientDelimiter: '+',
          mailboxCommand: `/bin/sh -c 'cat > ${out}; env >> ${out}'`,
        });
        assert.equal(ctx.log[0].outcome.status, 'sent');
        const text = fs.readFileSync(out, 'utf8');
        assert.deepEqual(owner(out), [a.uid, a.gid]);
        for (const line of [
          `USER=${a.name}`,
          `HOME=${a.home}`,
          'EXTENSION=x',
          'DOMAIN=localhost',
          `RECIPIENT=${a.name}+x@localhost`,
          'SENDER=alice@example.com',
        ])
          assert.ok(text.includes(`\n${line}\n`), line);
        assert.ok(!/^MAIL_CONFIG=/m.test(text));
      },
    );
  },
);

test(
  'does ignore a .forward that others may write',
  { skip: !ROOT },
  async () => {
    await withUsers(
      () => ({}),
      async (top, a) => {
        const fwd = path.join(a.home, '.forward');
        fs.writeFileSync(fwd, '/dev/null\n');
        fs.chownSync(fwd, a.uid, a.gid);
        fs.chmodSync(fwd, 0o666);
        const ctx = await deliver(top, `${a.name}@localhost`, {
          homeMailbox: 'Maildir/',
        });
        assert.deepEqual(
          ctx.log.map((l) => l.outcome.reason),
          ['delivered to maildir'],
        );
      },
    );
  },
);
