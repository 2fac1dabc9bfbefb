// End-to-end: cleanup killed in the middle of a message leaves no file
// that qmgr would take (mode stays 0600) and the client is never told
// "ok"; killed right after its answer, the message is complete on disk.
// cleanup runs in a child process on a queue folder the test owns.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { CleanupClient } from '../packages/ipc/cleanup_client';
import { isReady } from '../packages/queue/mail_queue';
import {
  message,
  readQueueFile,
  submit,
} from '../services/cleanup/cleanup_testkit';

const TESTKIT = path.join(
  __dirname,
  '..',
  'services',
  'cleanup',
  'cleanup_testkit.js',
);

function startChild(dir: string): Promise<ChildProcess> {
  const code =
    `require(${JSON.stringify(TESTKIT)})` +
    `.startCleanup('', ${JSON.stringify(dir)}).then(() => process.send('ready'))`;
  const child = spawn(process.execPath, ['-e', code], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`cleanup exited: ${code}`)));
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function incomingFiles(queueDir: string): string[] {
  return fs
    .readdirSync(path.join(queueDir, 'incoming'))
    .map((f) => path.join(queueDir, 'incoming', f));
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !check(); i++)
    await new Promise((r) => setTimeout(r, 20));
}

test('does leave only an unready file and no ok when killed mid-message', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanup-crash-'));
  const queueDir = path.join(dir, 'spool');
  const child = await startChild(dir);
  try {
    const client = await CleanupClient.open(queueDir, 0);
    const recs = message({ lines: ['Subject: big', ''] }).slice(0, -2);
    for (let i = 0; i < 2000; i++) recs.push(['N', 'x'.repeat(100)]);
    await client.records(recs);
    await waitFor(() =>
      incomingFiles(queueDir).some((f) => fs.statSync(f).size > 64 * 1024),
    );
    await kill(child);
    const result = await client.finish(true);
    assert.notEqual(result.status, 0);
    const files = incomingFiles(queueDir);
    assert.equal(files.length, 1);
    assert.equal(fs.statSync(files[0]).mode & 0o777, 0o600);
    assert.equal(isReady(fs.statSync(files[0])), false);
  } finally {
    await kill(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('does keep a complete file when killed right after answering', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cleanup-crash-'));
  const queueDir = path.join(dir, 'spool');
  const child = await startChild(dir);
  try {
    const got = await submit(
      queueDir,
      0,
      message({ lines: ['Subject: s', '', 'b'] }),
    );
    await kill(child);
    assert.equal(got.status, 0);
    const file = path.join(queueDir, 'incoming', got.queueId);
    assert.ok(isReady(fs.statSync(file)));
    const recs = readQueueFile(file);
    assert.equal(recs[recs.length - 1].type, 'E');
    assert.equal(recs[0].data.toString().trim().split(/ +/)[2], '1');
  } finally {
    await kill(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
