// End-to-end tests of the client limits: an in-process smtpd (with the
// real cleanup) asks anvil's protocol server on private/anvil in a temp
// queue, over a real Unix socket, as smtpd and anvil(8) do under master.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  LOG,
  SmtpTestClient,
  startInstance,
  waitForLog,
} from '../services/smtpd/smtpd_testkit';
import { logStatistics } from '../services/anvil/anvil_server';
import { AttrStream } from '../packages/ipc/ipc';

// Tests run from 127.0.0.1, which $mynetworks would exempt.
const NO_EXEMPT = { smtpd_client_event_limit_exceptions: '' };

async function greeted(port: number): Promise<SmtpTestClient> {
  const c = await SmtpTestClient.connect(port);
  const r = await c.reply();
  assert.match(r?.[0] ?? '', /^220 /);
  return c;
}

async function mailSession(port: number): Promise<SmtpTestClient> {
  const c = await greeted(port);
  c.send('EHLO client.example.org');
  await c.reply();
  return c;
}

test('smtpd does refuse a connection over smtpd_client_connection_count_limit', async () => {
  const from = LOG.length;
  const inst = await startInstance(
    { ...NO_EXEMPT, smtpd_client_connection_count_limit: '2' },
    { anvil: true },
  );
  try {
    const open = [await greeted(inst.port), await greeted(inst.port)];
    const third = await SmtpTestClient.connect(inst.port);
    assert.deepEqual(await third.reply(), [
      '421 4.7.0 mx.example.com Error: too many connections from 127.0.0.1',
    ]);
    assert.ok(await third.waitClosed());
    await waitForLog(
      /^warning: Connection concurrency limit exceeded: 3 from \S+\[127\.0\.0\.1\] for service smtp$/,
      from,
    );
    open[0].send('QUIT');
    await open[0].reply();
    await waitForLog(/^disconnect from /, from);
    await waitUntil(() => inst.anvil!.lookup('smtp:127.0.0.1')?.count === 1);
    const again = await greeted(inst.port);
    for (const c of [open[1], again]) c.close();
  } finally {
    await inst.close();
  }
});

test('smtpd does refuse a connection over smtpd_client_connection_rate_limit', async () => {
  const from = LOG.length;
  const inst = await startInstance(
    { ...NO_EXEMPT, smtpd_client_connection_rate_limit: '2' },
    { anvil: true },
  );
  try {
    for (let i = 0; i < 2; i++) (await greeted(inst.port)).close();
    const c = await SmtpTestClient.connect(inst.port);
    assert.deepEqual(await c.reply(), [
      '421 4.7.0 mx.example.com Error: too many connections from 127.0.0.1',
    ]);
    await waitForLog(
      /^warning: Connection rate limit exceeded: 3 from \S+\[127\.0\.0\.1\] for service smtp$/,
      from,
    );
    c.close();
  } finally {
    await inst.close();
  }
});

const EVENT_LIMITS: Array<{
  name: string;
  param: string;
  commands: string[];
  reply: string;
  warning: RegExp;
}> = [
  {
    name: 'MAIL over smtpd_client_message_rate_limit',
    param: 'smtpd_client_message_rate_limit',
    commands: [
      'MAIL FROM:<a@example.org>',
      'RSET',
      'MAIL FROM:<a@example.org>',
    ],
    reply: '450 4.7.1 Error: too much mail from 127.0.0.1',
    warning:
      /^warning: Message delivery request rate limit exceeded: 2 from \S+\[127\.0\.0\.1\] for service smtp$/,
  },
  {
    name: 'RCPT over smtpd_client_recipient_rate_limit',
    param: 'smtpd_client_recipient_rate_limit',
    commands: [
      'MAIL FROM:<a@example.org>',
      'RCPT TO:<u1@mx.example.com>',
      'RCPT TO:<u2@mx.example.com>',
    ],
    reply: '450 4.7.1 Error: too many recipients from 127.0.0.1',
    warning:
      /^warning: Recipient address rate limit exceeded: 2 from \S+\[127\.0\.0\.1\] for service smtp$/,
  },
];

for (const t of EVENT_LIMITS) {
  test(`smtpd does answer 450 to ${t.name}`, async () => {
    const from = LOG.length;
    const inst = await startInstance(
      { ...NO_EXEMPT, [t.param]: '1' },
      { anvil: true },
    );
    try {
      const c = await mailSession(inst.port);
      let last: string[] | null = null;
      for (const cmd of t.commands) {
        c.send(cmd);
        last = await c.reply();
      }
      assert.deepEqual(last, [t.reply]);
      await waitForLog(t.warning, from);
      c.close();
    } finally {
      await inst.close();
    }
  });
}

test('smtpd does not count clients in smtpd_client_event_limit_exceptions', async () => {
  const inst = await startInstance(
    { smtpd_client_connection_count_limit: '1' },
    { anvil: true },
  );
  try {
    const clients = [await greeted(inst.port), await greeted(inst.port)];
    assert.equal(inst.anvil!.lookup('smtp:127.0.0.1'), undefined);
    for (const c of clients) c.close();
  } finally {
    await inst.close();
  }
});

test('smtpd does let clients in with a warning when anvil is absent', async () => {
  const from = LOG.length;
  const inst = await startInstance({
    ...NO_EXEMPT,
    smtpd_client_connection_count_limit: '1',
  });
  try {
    const clients = [await greeted(inst.port), await greeted(inst.port)];
    await waitForLog(
      /^warning: problem talking to server private\/anvil: /,
      from,
    );
    for (const c of clients) c.close();
  } finally {
    await inst.close();
  }
});

test('anvil does log statistics: max connection count and rate for smtp:addr', async () => {
  const from = LOG.length;
  const inst = await startInstance(NO_EXEMPT, { anvil: true });
  try {
    const clients = [await greeted(inst.port), await greeted(inst.port)];
    logStatistics(inst.anvil!);
    const date = /[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/;
    const count = await waitForLog(
      /^statistics: max connection count 2 for \(smtp:127\.0\.0\.1\) at /,
      from,
    );
    const rate = await waitForLog(
      /^statistics: max connection rate 2\/60s for \(smtp:127\.0\.0\.1\) at /,
      from,
    );
    assert.match(count, date);
    assert.match(rate, date);
    for (const c of clients) c.close();
  } finally {
    await inst.close();
  }
});

test('anvil does forget the connections of an smtpd that went away', async () => {
  const inst = await startInstance(NO_EXEMPT, { anvil: true });
  try {
    const where = path.join(inst.queueDir, 'private', 'anvil');
    const socket = net.connect(where);
    const stream = AttrStream.fromSocket(socket);
    assert.deepEqual(await stream.readAttrs(), { protocol: 'anvil_protocol' });
    stream.writeAttrs({ request: 'connect', ident: 'smtp:192.0.2.9' });
    assert.deepEqual(await stream.readAttrs(), {
      status: '0',
      count: '1',
      rate: '1',
    });
    stream.writeAttrs({ request: 'bogus', ident: 'x' });
    assert.deepEqual(await stream.readAttrs(), { status: '-1' });
    socket.destroy();
    await waitUntil(() => inst.anvil!.lookup('smtp:192.0.2.9')?.count === 0);
  } finally {
    await inst.close();
  }
});

async function waitUntil(ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('waitUntil: timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
