// Out of disk: the queue on a 2 MB tmpfs of the test's own (root only).
// When it is full, MAIL FROM is answered 452 4.3.1 with a warning and a
// message in DATA is not acknowledged; what was queued before stays
// intact; once space returns, mail is taken again without a restart.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
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
