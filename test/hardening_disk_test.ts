// Out of disk: the queue on a 2 MB tmpfs of the test's own (root only).
// When it is full, MAIL FROM is answered 452 4.3.1 with a warning and a
// message in DATA is not acknowledged; what was queued before stays
// intact; once space returns, mail is taken again without a restart. A
// full Maildir file system defers local delivery (issue 6 point 4).

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  makeInstance,
  message,
  queueIdOf,
  SmtpClient,
  waitForPort,
  type Instance as Instance2,
} from './harness';
import {
  Instance,
  LOG,
  SmtpTestClient,
  startInstance,
  waitForLog,
} from '../services/smtpd/smtpd_testkit';

const ROOT = process.getuid?.() === 0;

async function session(inst: Instance, lines: string[]): Promise<string[]> {
  const c = await SmtpTestClient.connect(inst.port);
  await c.reply();
  const out: string[] = [];
  for (const l of lines) {
    c.write(l);
    const r = await c.reply();
    out.push(r?.[r.length - 1] ?? '');
  }
  c.close();
  return out;
}

const ENVELOPE = [
  'EHLO client.example.org\r\n',
  'MAIL FROM:<a@example.org>\r\n',
  'RCPT TO:<u@mx.example.com>\r\n',
  'DATA\r\n',
];
const BODY = `Subject: disk\r\n\r\n${'x'.repeat(70)}\r\n.\r\n`;

// Take every free byte, so that the next write fails with ENOSPC.
function fill(file: string): void {
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024, 0x61);
  try {
    for (;;) fs.writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
}

test(
  'smtpd does answer 452 4.3.1 on a full queue and recovers when space returns',
  { skip: ROOT ? false : 'mounting a tmpfs needs root' },
  async () => {
    const from = LOG.length;
    const inst = await startInstance(
      { message_size_limit: '100000' },
      { tmpfsSize: '2m' },
    );
    try {
      const first = await session(inst, [...ENVELOPE, BODY]);
      assert.match(first[4], /^250 2\.0\.0 Ok: queued as /);
      const before = inst.queued;

      const filler = path.join(inst.queueDir, 'filler');
      fill(filler);
      const full = await session(inst, ENVELOPE.slice(0, 2));
      assert.equal(full[1], '452 4.3.1 Insufficient system storage');
      await waitForLog(/^warning: not enough free space in mail queue: /, from);
      assert.deepEqual(inst.queued, before, 'queued mail untouched');

      fs.rmSync(filler);
      const again = await session(inst, [...ENVELOPE, BODY]);
      assert.match(again[4], /^250 2\.0\.0 Ok: queued as /);
      assert.equal(inst.queued.length, 2);
    } finally {
      await inst.close();
    }
  },
);

test(
  'smtpd does not acknowledge a message when the disk fills during DATA',
  { skip: ROOT ? false : 'mounting a tmpfs needs root' },
  async () => {
    const inst = await startInstance(
      { message_size_limit: '100000' },
      { tmpfsSize: '2m' },
    );
    try {
      const c = await SmtpTestClient.connect(inst.port);
      await c.reply();
      for (const l of ENVELOPE) {
        c.write(l);
        await c.reply();
      }
      fill(path.join(inst.queueDir, 'filler'));
      c.write(`Subject: full\r\n\r\n${'y\r\n'.repeat(20000)}.\r\n`);
      const [line] = (await c.reply(10_000)) ?? [''];
      c.close();
      assert.match(line, /^4\d\d 4\.\d+\.\d+ /, line);
      assert.deepEqual(inst.queued, []);
    } finally {
      await inst.close();
    }
  },
);

// A whole instance (test/harness) whose mail spool, where local writes
// the Maildirs, is a tmpfs of the test's own.
async function spoolOnTmpfs(size: string): Promise<Instance2> {
  const mta = await makeInstance({
    main: {
      minimal_backoff_time: '1s',
      maximal_backoff_time: '2s',
      queue_run_delay: '1s',
    },
  });
  execFileSync('mount', [
    '-t',
    'tmpfs',
    '-o',
    `size=${size}`,
    'tmpfs',
    mta.mailDir,
  ]);
  const ids = ['-u', '-g'].map((f) =>
    Number(execFileSync('id', [f, 'postfix'], { encoding: 'utf8' }).trim()),
  );
  fs.chownSync(mta.mailDir, ids[0], ids[1]);
  const started = mta.postfix('start');
  assert.equal(started.code, 0, started.stderr);
  await waitForPort(mta.smtpPort);
  return mta;
}

async function submitTo(mta: Instance2, to: string): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  try {
    await smtp.reply();
    await smtp.command('EHLO client.test.example');
    return queueIdOf(await smtp.send('alice@localhost', [to], message('full')));
  } finally {
    smtp.close();
  }
}

test(
  'local does defer, not bounce, when the Maildir file system is full, and delivers once space returns',
  { skip: ROOT ? false : 'mounting a tmpfs needs root' },
  async () => {
    const mta = await spoolOnTmpfs('1m');
    try {
      const filler = path.join(mta.mailDir, 'filler');
      fill(filler);
      const id = await submitTo(mta, 'roomless@localhost');
      await mta.waitForLog(
        new RegExp(
          `local\\[\\d+\\]: ${id}: to=<roomless@localhost>, relay=local, ` +
            '.*dsn=4\\.3\\.0, status=deferred \\(maildir delivery ' +
            'failed: .*No space left on device\\)',
        ),
      );
      assert.doesNotMatch(mta.log(), new RegExp(`${id}: .*status=bounced`));

      fs.rmSync(filler);
      mta.postfix('flush');
      const [text] = await mta.waitForMaildir('roomless', 1);
      assert.match(text, /^Subject: full$/m);
      await mta.waitForLog(new RegExp(`${id}: removed`));
      assert.equal(mta.maildir('alice').length, 0, 'no bounce notice');
    } finally {
      await mta.stop();
      execFileSync('umount', [mta.mailDir]);
      await mta.destroy();
    }
  },
);
