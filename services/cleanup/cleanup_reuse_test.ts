// Tests of kept cleanup connections (smtpd's): a second message on the
// connection of the first, a fresh connection when cleanup closed the
// kept one, and cleanup closing a connection that asks for nothing more.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { AttrStream } from '../../packages/ipc/attr';
import {
  CLEANUP_NEXT,
  CLEANUP_REUSE_IDLE_MS,
} from '../../packages/ipc/cleanup_client';
import { message, startCleanup, submit } from './cleanup_testkit';

const MAIL = message({ lines: ['Subject: kept', '', 'body'] });

function incoming(queueDir: string): string[] {
  return fs.readdirSync(path.join(queueDir, 'incoming')).sort();
}

test('does serve the next message on the connection a client kept', async (t) => {
  const h = await startCleanup();
  t.after(() => h.close());
  const first = await submit(h.queueDir, 0, MAIL, true);
  const second = await submit(h.queueDir, 0, MAIL, true);
  assert.equal(first.status, 0);
  assert.equal(second.status, 0);
  assert.notEqual(first.queueId, second.queueId);
  assert.equal(h.connections(), 1);
  assert.deepEqual(
    incoming(h.queueDir),
    [first.queueId, second.queueId].sort(),
  );
});

test('does connect afresh when cleanup closed the kept connection', async (t) => {
  const h = await startCleanup();
  t.after(() => h.close());
  await submit(h.queueDir, 0, MAIL, true);
  h.dropClients();
  await new Promise((resolve) => setImmediate(resolve));
  const second = await submit(h.queueDir, 0, MAIL, true);
  assert.equal(second.status, 0);
  assert.equal(h.connections(), 2);
  assert.equal(incoming(h.queueDir).length, 2);
});

test('does keep no connection for a client that does not ask', async (t) => {
  const h = await startCleanup();
  t.after(() => h.close());
  await submit(h.queueDir, 0, MAIL);
  await submit(h.queueDir, 0, MAIL);
  assert.equal(h.connections(), 2);
});

// A raw client: one message, then what the table says, or nothing.
async function afterOneMessage(then: object | null): Promise<number> {
  const h = await startCleanup();
  try {
    const socket = net.connect(path.join(h.queueDir, 'public', 'cleanup'));
    const stream = new AttrStream(socket);
    const closed = new Promise<number>((resolve) => {
      const start = Date.now();
      socket.on('close', () => resolve(Date.now() - start));
    });
    await stream.readAttrs();
    stream.writeAttrs({ flags: 0 });
    for (const [type, data] of MAIL) stream.writeRecord(type, data);
    assert.equal((await stream.readAttrs()).status, '0');
    if (then) stream.writeAttrs(then as Record<string, string>);
    stream.flush();
    const ms = await closed;
    assert.equal(incoming(h.queueDir).length, 1);
    return ms;
  } finally {
    await h.close();
  }
}

test('does close a kept connection that asks for nothing in time', async () => {
  const ms = await afterOneMessage(null);
  assert.ok(ms >= CLEANUP_REUSE_IDLE_MS - 100, `closed after ${ms} ms`);
  assert.ok(ms < CLEANUP_REUSE_IDLE_MS + 5000, `closed after ${ms} ms`);
});

test('does close a kept connection that asks for something else', async () => {
  const ms = await afterOneMessage({ request: 'other' });
  assert.ok(ms < CLEANUP_REUSE_IDLE_MS, `closed after ${ms} ms`);
  assert.equal(CLEANUP_NEXT.request, 'next');
});

test('does end a kept connection at half of daemon_timeout', async (t) => {
  const h = await startCleanup('daemon_timeout = 2s');
  t.after(() => h.close());
  // Four messages 0.4 s apart: the kept connection is 1 s old by the last.
  for (let i = 0; i < 4; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await submit(h.queueDir, 0, MAIL, true)).status, 0);
  }
  assert.ok(h.connections() >= 2, `${h.connections()} connections`);
});
