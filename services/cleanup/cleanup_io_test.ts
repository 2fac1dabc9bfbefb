// Tests of what cleanup's file and trigger work costs per message: none
// of it goes through the thread pool (the fsyncs too run on the event
// loop), and commits made while a qmgr wakeup is on its way share the
// next one. A real cleanup and qmgr
// stand-in on Unix sockets in a temporary queue directory.

import test from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { message, startCleanup, submit } from './cleanup_testkit';
import { wakeQmgr } from './cleanup_service';
import { isReady, queuePath } from '../../packages/queue/mail_queue';
import * as fs from 'node:fs';

const LINES = ['From: a@example.org', 'Subject: x', '', 'body'];

// The kinds of thread-pool requests made while fn runs.
async function poolRequests(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const hook = createHook({
    init(_id, type) {
      if (type === 'FSREQCALLBACK' || type === 'FSREQPROMISE') seen.push(type);
    },
  });
  hook.enable();
  try {
    await fn();
  } finally {
    hook.disable();
  }
  return seen;
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 150 && !check(); i++)
    await new Promise((r) => setTimeout(r, 20));
}

test('does not use the thread pool for a commit, fsyncs included', async () => {
  const h = await startCleanup();
  try {
    // The first commit loads what later ones share (maps, modules).
    await submit(h.queueDir, 0, message({ lines: LINES }));
    let id = '';
    const seen = await poolRequests(async () => {
      const got = await submit(h.queueDir, 0, message({ lines: LINES }));
      assert.equal(got.status, 0);
      id = got.queueId;
    });
    // The queue file's fsync and incoming/'s are synchronous.
    assert.deepEqual(seen, []);
    const file = queuePath(h.queueDir, 'incoming', id, h.config);
    assert.ok(isReady(fs.statSync(file)));
  } finally {
    await h.close();
  }
});

test('does wake qmgr once for wakeups asked in the same turn', async () => {
  const h = await startCleanup();
  try {
    const first = wakeQmgr(h.queueDir);
    assert.equal(wakeQmgr(h.queueDir), first);
    await first;
    await waitFor(() => h.triggers.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(h.triggers, ['I']);
  } finally {
    await h.close();
  }
});

test('does send one more wakeup after the one in flight when asked during it', async () => {
  const h = await startCleanup();
  try {
    const first = wakeQmgr(h.queueDir);
    // Let the first start on its way.
    await Promise.resolve();
    await Promise.resolve();
    const second = wakeQmgr(h.queueDir);
    assert.notEqual(second, first);
    assert.equal(wakeQmgr(h.queueDir), second);
    await Promise.all([first, second]);
    await waitFor(() => h.triggers.length === 2);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(h.triggers, ['I', 'I']);
  } finally {
    await h.close();
  }
});
