// mbox delivery on real files: From_ line and >From quoting, dot-lock and
// fcntl locks held by other processes, stale locks, truncation back on
// error, and mailboxes that local refuses to write.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { deliverMbox } from './local_mailbox';
import { selfRights } from './local_user';
import { defaultSettings, type LocalSettings } from './local_state';
import {
  removeDir,
  tempDir,
  testMessage,
  writeQueueFile,
} from './local_testkit';

function setup(settings: Partial<LocalSettings> = {}) {
  const dir = tempDir();
  const q = writeQueueFile(dir, { sender: '' });
  const msg = testMessage(q, '');
  const target = {
    msg,
    copy: { originalRecipient: 'bob', deliveredTo: 'bob@localhost' },
    rights: selfRights(),
    settings: defaultSettings({
      deliverLockAttempts: 2,
      deliverLockDelay: 0,
      ...settings,
    }),
  };
  const done = () => {
    fs.closeSync(msg.fd);
    removeDir(dir);
  };
  return { dir, target, done, box: path.join(dir, 'bob') };
}

const OPTS = { inSpool: true, success: 'delivered to mailbox' };

test('does append From_ line, headers, quoted body and a blank line', async () => {
  const { target, done, box } = setup();
  try {
    assert.equal((await deliverMbox(target, box, OPTS)).status, 'sent');
    assert.equal((await deliverMbox(target, box, OPTS)).status, 'sent');
    const text = fs.readFileSync(box, 'utf8');
    const first = text.split('\n\n\n')[0];
    assert.match(
      first,
      /^From MAILER-DAEMON {2}\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n/,
    );
    assert.ok(
      text.includes(
        'Return-Path: <>\nX-Original-To: bob\nDelivered-To: bob@localhost\n',
      ),
    );
    assert.ok(text.includes('\nhello\n>From the start of a line\n\n'));
    assert.equal(text.match(/^From MAILER-DAEMON/gm)!.length, 2);
    assert.ok(!fs.existsSync(`${box}.lock`));
  } finally {
    done();
  }
});

test('does defer and leave the mailbox alone when a dot-lock is held', async () => {
  const { target, done, box } = setup();
  try {
    fs.writeFileSync(box, 'old\n');
    fs.writeFileSync(`${box}.lock`, '');
    const outcome = await deliverMbox(target, box, OPTS);
    assert.equal(outcome.status, 'deferred');
    assert.equal(outcome.dsn, '4.2.0');
    assert.match(outcome.reason, /unable to lock for exclusive access/);
    assert.equal(fs.readFileSync(box, 'utf8'), 'old\n');
    assert.ok(fs.existsSync(`${box}.lock`));
  } finally {
    done();
  }
});

test('does remove a dot-lock older than stale_lock_time', async () => {
  const { target, done, box } = setup({ staleLockTime: 10 });
  try {
    fs.writeFileSync(`${box}.lock`, '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(`${box}.lock`, old, old);
    assert.equal((await deliverMbox(target, box, OPTS)).status, 'sent');
    assert.ok(!fs.existsSync(`${box}.lock`));
  } finally {
    done();
  }
});

// Another process holds an fcntl write lock on file until killed.
function holdFcntl(file: string): Promise<() => void> {
  const script =
    "const f=require('fs-ext');const fs=require('fs');" +
    `const fd=fs.openSync(${JSON.stringify(file)},'r+');` +
    "f.fcntl(fd,'setlk',f.constants.F_WRLCK,(e)=>{if(e)process.exit(1);" +
    "process.stdout.write('locked');setInterval(()=>{},1000);});";
  const child = spawn(process.execPath, ['-e', script], {
    cwd: path.join(__dirname, '..', '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve(() => child.kill('SIGKILL')));
    child.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
}

test('does defer when another process holds an fcntl lock', async () => {
  const { target, done, box } = setup();
  fs.writeFileSync(box, 'old\n');
  const release = await holdFcntl(box);
  try {
    const outcome = await deliverMbox(target, box, OPTS);
    assert.equal(outcome.status, 'deferred');
    assert.equal(fs.readFileSync(box, 'utf8'), 'old\n');
    assert.ok(!fs.existsSync(`${box}.lock`));
  } finally {
    release();
    done();
  }
});

test('does cut the mailbox back when the write fails half way', async () => {
  const { target, done, box } = setup({ mailboxSizeLimit: 100 });
  try {
    fs.writeFileSync(box, 'x'.repeat(60));
    const outcome = await deliverMbox(target, box, OPTS);
    assert.equal(outcome.status, 'bounced');
    assert.equal(outcome.dsn, '5.2.2');
    assert.match(outcome.reason, /File too large/);
    assert.equal(fs.readFileSync(box, 'utf8'), 'x'.repeat(60));
  } finally {
    done();
  }
});

const REFUSED: Array<[string, (box: string, dir: string) => void, RegExp]> = [
  [
    'a symbolic link',
    (box, dir) => {
      fs.writeFileSync(path.join(dir, 'target'), '');
      fs.symlinkSync(path.join(dir, 'target'), box);
    },
    /Too many levels of symbolic links/,
  ],
  [
    'a hard link',
    (box, dir) => {
      fs.writeFileSync(path.join(dir, 'target'), '');
      fs.linkSync(path.join(dir, 'target'), box);
    },
    /has 2 links/,
  ],
  ['a directory', (box) => fs.mkdirSync(box), /Is a directory|not a regular/],
];

for (const [name, make, why] of REFUSED) {
  test(`does defer without writing when the mailbox is ${name}`, async () => {
    const { target, done, box, dir } = setup();
    try {
      make(box, dir);
      const outcome = await deliverMbox(target, box, OPTS);
      assert.equal(outcome.status, 'deferred');
      assert.match(outcome.reason, why);
      if (fs.existsSync(path.join(dir, 'target')))
        assert.equal(fs.readFileSync(path.join(dir, 'target'), 'utf8'), '');
    } finally {
      done();
    }
  });
}
