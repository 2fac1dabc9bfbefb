// End-to-end tests of postsuper(1) on queue files written by the real
// cleanup: delete by ID, by stdin and ALL, hold and release, requeue
// through maildrop and pickup, force expiry, purge and structure repair,
// with Postfix's log lines and counts; and refusal for other users.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  runCommand,
  startSubmitInstance,
  queueNames,
  type SubmitInstance,
} from '../packages/commands/submit_testkit';
import { message, submit } from '../services/cleanup/cleanup_testkit';
import { moveQueueFile } from '../packages/queue/mail_queue';

async function queued(
  h: SubmitInstance,
  n: number,
  where = 'incoming',
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await submit(
      h.queueDir,
      0,
      message({ lines: ['Subject: t', '', `m${i}`] }),
    );
    assert.equal(r.status, 0, r.reason);
    if (where !== 'incoming')
      await moveQueueFile(h.queueDir, r.queueId, 'incoming', where, h.config);
    ids.push(r.queueId);
  }
  return ids.sort();
}

async function withInstance(
  fn: (h: SubmitInstance) => Promise<void>,
): Promise<void> {
  const h = await startSubmitInstance();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

const postsuper = (h: SubmitInstance, args: string[], input = '') =>
  runCommand(h.configDir, 'postsuper', args, { input });

test('postsuper -d deletes one message and its logs and counts it when given an ID', () =>
  withInstance(async (h) => {
    const [a, b] = await queued(h, 2, 'deferred');
    const defer = path.join(h.queueDir, 'defer', a[0], a);
    fs.mkdirSync(path.dirname(defer), { recursive: true });
    fs.writeFileSync(defer, 'recipient=x\n');
    const r = await postsuper(h, ['-d', a]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr,
      `postsuper: ${a}: removed\npostsuper: Deleted: 1 message\n`,
    );
    assert.ok(!fs.existsSync(defer));
    const left = fs
      .readdirSync(path.join(h.queueDir, 'deferred'), { recursive: true })
      .map(String);
    assert.ok(left.some((f) => f.endsWith(b)));
  }));

test('postsuper -d - reads IDs from standard input and -d ALL takes every queue', () =>
  withInstance(async (h) => {
    const ids = await queued(h, 3);
    let r = await postsuper(h, ['-d', '-'], `${ids[0]}\n${ids[1]}\n`);
    assert.match(r.stderr, /Deleted: 2 messages\n$/);
    await queued(h, 2, 'hold');
    r = await postsuper(h, ['-d', 'ALL']);
    assert.match(r.stderr, /Deleted: 3 messages\n$/);
    assert.deepEqual(queueNames(h.queueDir, 'incoming'), []);
    assert.deepEqual(queueNames(h.queueDir, 'hold'), []);
  }));

test('postsuper -d ALL deferred touches only that queue when given a queue name', () =>
  withInstance(async (h) => {
    await queued(h, 1);
    await queued(h, 2, 'deferred');
    const r = await postsuper(h, ['-d', 'ALL', 'deferred']);
    assert.match(r.stderr, /Deleted: 2 messages\n$/);
    assert.equal(queueNames(h.queueDir, 'incoming').length, 1);
  }));

test('postsuper -h and -H move a message to hold and back to deferred', () =>
  withInstance(async (h) => {
    const [id] = await queued(h, 1);
    let r = await postsuper(h, ['-h', id]);
    assert.equal(
      r.stderr,
      `postsuper: ${id}: placed on hold\npostsuper: Placed on hold: 1 message\n`,
    );
    assert.deepEqual(queueNames(h.queueDir, 'hold'), [id]);
    r = await postsuper(h, ['-H', id]);
    assert.equal(
      r.stderr,
      `postsuper: ${id}: released from hold\npostsuper: Released from hold: 1 message\n`,
    );
    assert.ok(fs.existsSync(path.join(h.queueDir, 'deferred', id[0], id)));
  }));

test('postsuper -r requeues through maildrop and pickup logs orig_id', () =>
  withInstance(async (h) => {
    const [id] = await queued(h, 1, 'deferred');
    const r = await postsuper(h, ['-r', id]);
    assert.match(
      r.stderr,
      new RegExp(`${id}: requeued\\npostsuper: Requeued: 1 message\\n$`),
    );
    assert.deepEqual(queueNames(h.queueDir, 'maildrop'), [id]);
    assert.equal(await h.pickup(), 1);
    const [file] = h.incoming();
    const newId = path.basename(file);
    assert.notEqual(newId, id);
    assert.ok(
      h.logs.some((l) =>
        l.endsWith(
          `: ${newId}: uid=${process.getuid!()} from=<alice@example.org> orig_id=${id}`,
        ),
      ),
      h.logs.join('\n'),
    );
    assert.deepEqual(queueNames(h.queueDir, 'maildrop'), []);
  }));

test('postsuper -e sets the forced-expiry bit and -f also releases from hold', () =>
  withInstance(async (h) => {
    const [a] = await queued(h, 1, 'deferred');
    const [b] = await queued(h, 1, 'hold');
    let r = await postsuper(h, ['-e', a]);
    assert.match(r.stderr, /Force-expired: 1 message\n$/);
    assert.equal(
      fs.statSync(path.join(h.queueDir, 'deferred', a[0], a)).mode & 0o010,
      0o010,
    );
    r = await postsuper(h, ['-f', b]);
    assert.match(r.stderr, new RegExp(`${b}: expired\\n`));
    assert.equal(
      fs.statSync(path.join(h.queueDir, 'deferred', b[0], b)).mode & 0o010,
      0o010,
    );
    const list = await runCommand(h.configDir, 'postqueue', ['-p']);
    assert.match(list.stdout, new RegExp(`^${b}# `, 'm'));
  }));

test('postsuper -p removes stale temporary files and keeps queue files', () =>
  withInstance(async (h) => {
    const [id] = await queued(h, 1);
    const stale = path.join(h.queueDir, 'incoming', '123456.789.0');
    fs.writeFileSync(stale, '');
    const old = Date.now() / 1000 - 7200;
    fs.utimesSync(stale, old, old);
    const fresh = path.join(h.queueDir, 'incoming', '123456.789.1');
    fs.writeFileSync(fresh, '');
    const r = await postsuper(h, ['-p']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      queueNames(h.queueDir, 'incoming'),
      ['123456.789.1', id].sort(),
    );
  }));

test('postsuper -s renames a file to match its inode and fixes hashing', () =>
  withInstance(async (h) => {
    const [id] = await queued(h, 1, 'deferred');
    const wrongName = `${id.slice(0, 5)}FFFFF`;
    fs.renameSync(
      path.join(h.queueDir, 'deferred', id[0], id),
      path.join(h.queueDir, 'deferred', wrongName),
    );
    const r = await postsuper(h, ['-s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Renamed to match inode number: 1 message\n/);
    assert.ok(fs.existsSync(path.join(h.queueDir, 'deferred', id[0], id)));
  }));

test('postsuper exits 64 with the usage when given no operation or a bad queue', () =>
  withInstance(async (h) => {
    for (const args of [[], ['-d', 'ALL', 'nosuchqueue']]) {
      const r = await postsuper(h, args);
      assert.equal(r.code, 64);
      assert.match(r.stderr, /^postsuper: fatal: /);
    }
  }));
