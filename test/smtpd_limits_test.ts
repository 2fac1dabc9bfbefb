// smtpd under abuse: over-long command lines, the soft error limit's
// delay, a cleanup that is not there, an oversized message streamed past
// message_size_limit, and a client that stalls inside DATA. Each runs a
// real smtpd on port 0 with the real cleanup in a temporary queue.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  startInstance,
  SmtpTestClient,
  queueFiles,
  waitForLog,
  LOG,
  Instance,
} from '../services/smtpd/smtpd_testkit';

async function withSession(
  params: Record<string, string>,
  fn: (c: SmtpTestClient, inst: Instance) => Promise<void>,
): Promise<void> {
  const inst = await startInstance(params);
  const client = await SmtpTestClient.connect(inst.port);
  try {
    assert.match((await client.reply())![0], /^220 /);
    await fn(client, inst);
  } finally {
    client.close();
    await inst.close();
  }
}

async function ask(c: SmtpTestClient, line: string): Promise<string> {
  c.send(line);
  const r = await c.reply();
  return r ? r[r.length - 1] : '<closed>';
}

test('does cut an over-long command at line_length_limit and read on after it', async () => {
  await withSession({}, async (c) => {
    const long = `MAIL FROM:<${'a'.repeat(5000)}@client.example>`;
    assert.equal(await ask(c, long), '501 5.1.7 Bad sender address syntax');
    assert.equal(await ask(c, 'RSET'), '250 2.0.0 Ok');
  });
});

test('does delay error replies once smtpd_soft_error_limit is reached', async () => {
  const params = { smtpd_soft_error_limit: '2', smtpd_error_sleep_time: '1s' };
  await withSession(params, async (c) => {
    const t0 = Date.now();
    await ask(c, 'FOO');
    const fast = Date.now() - t0;
    const t1 = Date.now();
    assert.equal(
      await ask(c, 'BAR'),
      '502 5.5.2 Error: command not recognized',
    );
    const slow = Date.now() - t1;
    assert.ok(fast < 900, `first error took ${fast} ms`);
    assert.ok(slow >= 900, `second error took only ${slow} ms`);
  });
});

test('does answer 451 4.3.0 and keep the session when cleanup is not running', async () => {
  await withSession({}, async (c, inst) => {
    fs.rmSync(path.join(inst.queueDir, 'public', 'cleanup'));
    await ask(c, 'HELO client.example');
    await ask(c, 'MAIL FROM:<a@client.example>');
    const r = await ask(c, 'RCPT TO:<bob@mx.example.com>');
    assert.equal(r, '451 4.3.0 Error: queue file write error');
    assert.equal(await ask(c, 'QUIT'), '221 2.0.0 Bye');
  });
});

test('does refuse a message that grows past message_size_limit during DATA and queue nothing', async () => {
  await withSession({ message_size_limit: '100000' }, async (c, inst) => {
    await ask(c, 'EHLO client.example');
    await ask(c, 'MAIL FROM:<a@client.example>');
    await ask(c, 'RCPT TO:<bob@mx.example.com>');
    assert.match(await ask(c, 'DATA'), /^354 /);
    const line = 'x'.repeat(998) + '\r\n';
    for (let i = 0; i < 2000; i++) c.write(line); // about 2 MB
    c.write('.\r\n');
    const r = await c.reply(15000);
    assert.deepEqual(r, ['552 5.3.4 Error: message file too big']);
    assert.equal(queueFiles(inst.queueDir).length, 0);
    assert.equal(await ask(c, 'NOOP'), '250 2.0.0 Ok');
  });
});

test('does log timeout after DATA with the bytes so far when the client stalls in DATA', async () => {
  const from = LOG.length;
  await withSession({ smtpd_timeout: '1s' }, async (c, inst) => {
    await ask(c, 'HELO client.example');
    await ask(c, 'MAIL FROM:<a@client.example>');
    await ask(c, 'RCPT TO:<bob@mx.example.com>');
    await ask(c, 'DATA');
    c.write('Subject: stall\r\n\r\nhalf a message\r\n');
    const r = await c.reply(5000);
    assert.deepEqual(r, ['421 4.4.2 mx.example.com Error: timeout exceeded']);
    await waitForLog(
      /^timeout after DATA \(\d+ bytes\) from localhost\[127\.0\.0\.1\]$/,
      from,
    );
    assert.equal(queueFiles(inst.queueDir).length, 0);
  });
});

test('does answer random bytes with errors and stay up for the next client', async () => {
  const from = LOG.length;
  const inst = await startInstance({ smtpd_hard_error_limit: '1000' });
  try {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff;
    const junk = Buffer.alloc(200_000);
    for (let i = 0; i < junk.length; i++) junk[i] = random();
    const c = await SmtpTestClient.connect(inst.port);
    await c.reply();
    c.write(junk);
    c.write('\r\nQUIT\r\n');
    for (let r = await c.reply(10000); r; r = await c.reply(10000))
      assert.match(r[r.length - 1], /^[2-5]\d\d /);
    const next = await SmtpTestClient.connect(inst.port);
    assert.deepEqual(await next.reply(), ['220 mx.example.com ESMTP Postfix']);
    next.close();
    const internal = LOG.slice(from).filter((l) => /^(error|panic): /.test(l));
    assert.deepEqual(internal, []);
  } finally {
    await inst.close();
  }
});

test("does turn cleanup's refusal into Postfix's reply when a message has too many hops", async () => {
  await withSession({}, async (c, inst) => {
    await ask(c, 'HELO client.example');
    await ask(c, 'MAIL FROM:<a@client.example>');
    await ask(c, 'RCPT TO:<bob@mx.example.com>');
    assert.match(await ask(c, 'DATA'), /^354 /);
    for (let i = 0; i < 60; i++) c.write(`Received: from hop${i}.example\r\n`);
    c.write('Subject: loop\r\n\r\nbody\r\n');
    assert.equal(await ask(c, '.'), '554 5.4.0 Error: too many hops');
    assert.equal(queueFiles(inst.queueDir).length, 0);
    assert.equal(
      await ask(c, 'RCPT TO:<bob@mx.example.com>'),
      '503 5.5.1 Error: need MAIL command',
    );
  });
});

test('does log the session end at once when the client leaves before the greeting', async () => {
  const from = LOG.length;
  const inst = await startInstance({ smtpd_timeout: '300s' });
  try {
    const c = await SmtpTestClient.connect(inst.port);
    c.close(); // gone while smtpd still looks up its name
    await waitForLog(
      /^lost connection after CONNECT from localhost\[127\.0\.0\.1\]$/,
      from,
    );
    await waitForLog(
      /^disconnect from localhost\[127\.0\.0\.1\] commands=0\/0$/,
      from,
    );
  } finally {
    await inst.close();
  }
});
