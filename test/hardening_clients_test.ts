// Many and misbehaving clients against an in-process smtpd with the real
// cleanup: 2,000 idle connections while an honest client's mail is
// accepted within a second, a client that sends a byte at a time cut off
// by smtpd_timeout (smtpd_per_record_deadline), and a client that never
// reads its replies stopped by backpressure. Prints the RSS it measures.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import {
  LOG,
  SmtpTestClient,
  startInstance,
  waitForLog,
} from '../services/smtpd/smtpd_testkit';

const IDLE_CLIENTS = 2000;

function rssMb(): string {
  return (process.memoryUsage().rss / 2 ** 20).toFixed(0);
}

function openIdle(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('data', () => resolve(s)); // the greeting
    s.once('error', reject);
  });
}

async function sendOne(port: number): Promise<string> {
  const c = await SmtpTestClient.connect(port);
  await c.reply();
  const lines = [
    'EHLO client.example.org',
    'MAIL FROM:<a@example.org>',
    'RCPT TO:<u@mx.example.com>',
    'DATA',
  ];
  for (const l of lines) {
    c.send(l);
    await c.reply();
  }
  c.write('Subject: honest\r\n\r\nhello\r\n.\r\n');
  const r = (await c.reply())?.[0] ?? '';
  c.close();
  return r;
}

test('smtpd does accept an honest client within a second beside 2,000 idle ones', async (t) => {
  const inst = await startInstance();
  const idle: net.Socket[] = [];
  try {
    const before = rssMb();
    for (let i = 0; i < IDLE_CLIENTS; i += 100) {
      const batch = Array.from({ length: 100 }, () => openIdle(inst.port));
      idle.push(...(await Promise.all(batch)));
    }
    const during = rssMb();
    const started = Date.now();
    const r = await sendOne(inst.port);
    const ms = Date.now() - started;
    t.diagnostic(
      `rss ${before} MB before, ${during} MB with ${idle.length} idle ` +
        `clients (smtpd and clients in one process); mail took ${ms} ms`,
    );
    assert.match(r, /^250 2\.0\.0 Ok: queued as /);
    assert.ok(ms < 1000, `${ms} ms`);
  } finally {
    for (const s of idle) s.destroy();
    await inst.close();
  }
});

test('smtpd does cut off a client that sends a byte a second', async () => {
  const from = LOG.length;
  const inst = await startInstance({
    smtpd_timeout: '2s',
    smtpd_per_record_deadline: 'yes',
  });
  try {
    const c = await SmtpTestClient.connect(inst.port);
    await c.reply();
    const bytes = 'EHLO slow.example.org\r\n';
    let i = 0;
    const drip = setInterval(() => c.write(bytes[i++ % bytes.length]), 1000);
    try {
      assert.deepEqual(await c.reply(6000), [
        '421 4.4.2 mx.example.com Error: timeout exceeded',
      ]);
      assert.ok(await c.waitClosed());
    } finally {
      clearInterval(drip);
    }
    await waitForLog(/^timeout after CONNECT from /, from);
  } finally {
    await inst.close();
  }
});

test('smtpd does stop reading from a client that never reads its replies', async (t) => {
  const inst = await startInstance({
    smtpd_junk_command_limit: '100000000',
    smtpd_forbid_unauth_pipelining: 'no',
  });
  try {
    const socket = net.connect(inst.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    socket.pause(); // never read a reply
    const chunk = Buffer.from('NOOP\r\n'.repeat(10_000));
    let written = 0;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      if (!socket.write(chunk)) {
        const drained = await Promise.race([
          new Promise((r) => socket.once('drain', () => r(true))),
          new Promise((r) => setTimeout(() => r(false), 500)),
        ]);
        if (!drained) break;
      }
      written += chunk.length;
    }
    t.diagnostic(
      `the client could write ${(written / 2 ** 20).toFixed(1)} MB ` +
        `before smtpd stopped reading; rss ${rssMb()} MB`,
    );
    assert.ok(written < 64 * 2 ** 20, `${written} bytes taken`);
    socket.destroy();
  } finally {
    await inst.close();
  }
});
