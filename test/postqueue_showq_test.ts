// End-to-end tests of postqueue(1) against a running instance: -p and
// -j served by the showq daemon, -f waking qmgr, -s and -i naming the
// missing flush service, and the listing read directly when the mail
// system is down. qmgr is left out where mail must stay queued.

import test from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, makeInstance, type Instance } from './harness';

async function submit(
  mta: Instance,
  sender: string,
  rcpt: string,
): Promise<void> {
  const r = mta.command(
    'sendmail',
    ['-f', sender, rcpt],
    `Subject: q\n\nbody\n`,
  );
  assert.equal(r.code, 0, r.stderr);
}

async function withInstance(
  without: string[],
  fn: (mta: Instance) => Promise<void>,
): Promise<void> {
  const mta = await startInstance({ without });
  try {
    await fn(mta);
  } finally {
    await mta.destroy();
  }
}

test('postqueue -p lists messages through showq when the system runs', () =>
  withInstance(['qmgr'], async (mta) => {
    await submit(mta, 'a@x.example', 'r1@y.example');
    await submit(mta, '<>', 'r2@y.example');
    await mta.waitForLog(/uid=\d+ from=<>/);
    await mta.waitForLog(/uid=\d+ from=<a@x\.example>/);
    const r = mta.command('postqueue', ['-p']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.equal(
      lines[0],
      '-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------',
    );
    assert.match(
      r.stdout,
      /^[0-9A-F]{10,} +\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d  a@x\.example\n {41}r1@y\.example\n/m,
    );
    assert.match(r.stdout, /  MAILER-DAEMON\n {41}r2@y\.example\n/);
    assert.match(r.stdout, /\n\n-- \d+ Kbytes in 2 Requests\.\n$/);
  }));

test('postqueue -j writes one JSON object per message when messages are queued', () =>
  withInstance(['qmgr'], async (mta) => {
    await submit(mta, 'a@x.example', 'r1@y.example');
    await mta.waitForLog(/uid=\d+ from=<a@x\.example>/);
    const r = mta.command('postqueue', ['-j']);
    assert.equal(r.code, 0, r.stderr);
    const [line, ...rest] = r.stdout.trim().split('\n');
    assert.equal(rest.length, 0);
    const m = JSON.parse(line);
    assert.equal(m.queue_name, 'incoming');
    assert.equal(m.sender, 'a@x.example');
    assert.deepEqual(m.recipients, [{ address: 'r1@y.example' }]);
    assert.equal(typeof m.arrival_time, 'number');
    assert.equal(m.forced_expire, false);
  }));

test('postqueue -f wakes qmgr and pickup when the system runs', () =>
  withInstance([], async (mta) => {
    const r = mta.command('postqueue', ['-f']);
    assert.equal(r.code, 0, r.stderr);
  }));

test('postqueue -s and -i name the missing flush service when it is absent', () =>
  withInstance(['flush'], async (mta) => {
    for (const args of [
      ['-s', 'example.com'],
      ['-i', 'ABCDEF1234'],
    ]) {
      const r = mta.command('postqueue', args);
      assert.equal(r.code, 69);
      assert.match(
        r.stderr,
        /^postqueue: fatal: Cannot flush mail queue: the flush service \(.*public\/flush\) is not installed or not running\n$/,
      );
    }
  }));

test('postqueue -p reads the queue directly as root when the mail system is down', async () => {
  const mta = await makeInstance({ start: false });
  try {
    const r = mta.command('postqueue', ['-p']);
    if (process.getuid?.() === 0) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /^postqueue: warning: Mail system is down -- accessing queue directly \(Connect to the Postfix showq service: No such file or directory\)\n$/,
      );
      assert.equal(r.stdout, 'Mail queue is empty\n');
    }
    const bad = mta.command('postqueue', ['-p', '-f']);
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /usage: postqueue -f \| postqueue -i queueid/);
  } finally {
    await mta.destroy();
  }
});

test('postqueue -f sends qmgr the FADI trigger and wakes pickup', async () => {
  const { startSubmitInstance, runCommand } =
    await import('../packages/commands/submit_testkit');
  const h = await startSubmitInstance();
  try {
    const r = await runCommand(h.configDir, 'postqueue', ['-f']);
    assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 40 && !h.triggers.length; i++)
      await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(h.triggers, ['FADI']);
  } finally {
    await h.close();
  }
});
