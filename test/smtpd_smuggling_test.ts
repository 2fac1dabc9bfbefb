// SMTP smuggling (CVE-2023-51764) against smtpd: a second message hidden
// behind a fake end-of-data must never be queued, whatever the bare
// <LF>/<CR> sequence, and smtpd_forbid_bare_newline's modes must answer
// as Postfix 3.9 does. Counts the files cleanup committed to incoming/.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  startInstance,
  SmtpTestClient,
  queueFiles,
  waitForLog,
  LOG,
  Instance,
} from '../services/smtpd/smtpd_testkit';

// The client is 127.0.0.1; keep it out of mynetworks (and so out of
// smtpd_forbid_bare_newline_exclusions) unless a test wants it in.
const OUTSIDE = { mynetworks: '192.0.2.0/24' };

const SMUGGLED =
  'MAIL FROM:<evil@attacker.example>\r\n' +
  'RCPT TO:<bob@mx.example.com>\r\n' +
  'DATA\r\n' +
  'Subject: smuggled\r\n\r\nsmuggled body\r\n';

async function session(
  inst: Instance,
  fakeEnd: string,
): Promise<{ replies: string[]; client: SmtpTestClient }> {
  const client = await SmtpTestClient.connect(inst.port);
  const replies: string[] = [];
  const step = async (line?: string) => {
    if (line !== undefined) client.send(line);
    const r = await client.reply();
    replies.push(...(r ?? ['<closed>']));
  };
  await step();
  await step('EHLO attacker.example');
  await step('MAIL FROM:<a@attacker.example>');
  await step('RCPT TO:<bob@mx.example.com>');
  await step('DATA');
  client.write(
    `Subject: first\r\n\r\nfirst body${fakeEnd}${SMUGGLED}\r\n.\r\n`,
  );
  await step();
  return { replies, client };
}

function lastReply(replies: string[]): string {
  return replies[replies.length - 1];
}

const FAKE_ENDS = ['\n.\n', '\r.\n', '\n.\r\n', '\r.\r'];

for (const mode of ['normalize', 'yes', 'note']) {
  for (const fakeEnd of FAKE_ENDS) {
    const shown = JSON.stringify(fakeEnd);
    test(`does queue one message, smuggled text as content, when DATA holds ${shown} and smtpd_forbid_bare_newline=${mode}`, async () => {
      const inst = await startInstance({
        ...OUTSIDE,
        smtpd_forbid_bare_newline: mode,
      });
      try {
        const { replies, client } = await session(inst, fakeEnd);
        assert.match(lastReply(replies), /^250 2\.0\.0 Ok: queued as /);
        client.send('QUIT');
        assert.deepEqual(await client.reply(), ['221 2.0.0 Bye']);
        client.close();
        assert.equal(queueFiles(inst.queueDir).length, 1);
        assert.equal(inst.queued.length, 1);
        const body = inst.queued[0].records
          .filter((r) => r.type === 'N' || r.type === 'L')
          .map((r) => r.data);
        assert.ok(body.some((l) => l.includes('MAIL FROM:<evil@')));
      } finally {
        await inst.close();
      }
    });
  }
}

for (const fakeEnd of ['\n.\n', '\n.\r\n']) {
  const shown = JSON.stringify(fakeEnd);
  test(`does refuse with 550 5.5.2 and queue nothing when DATA holds ${shown} and smtpd_forbid_bare_newline=reject`, async () => {
    const inst = await startInstance({
      ...OUTSIDE,
      smtpd_forbid_bare_newline: 'reject',
    });
    try {
      const { replies, client } = await session(inst, fakeEnd);
      assert.equal(
        lastReply(replies),
        '550 5.5.2 mx.example.com Error: bare <LF> received',
      );
      client.close();
      assert.equal(queueFiles(inst.queueDir).length, 0);
      assert.equal(inst.queued.length, 0);
    } finally {
      await inst.close();
    }
  });
}

test('does disconnect after the reply when smtpd_forbid_bare_newline_reject_code is 521', async () => {
  const inst = await startInstance({
    ...OUTSIDE,
    smtpd_forbid_bare_newline: 'reject',
    smtpd_forbid_bare_newline_reject_code: '521',
  });
  try {
    const { replies, client } = await session(inst, '\n.\n');
    assert.equal(
      lastReply(replies),
      '521 5.5.2 mx.example.com Error: bare <LF> received',
    );
    assert.ok(await client.waitClosed());
    assert.equal(queueFiles(inst.queueDir).length, 0);
  } finally {
    await inst.close();
  }
});

test('does log notes=bare_lf in the disconnect line when smtpd_forbid_bare_newline=note', async () => {
  const inst = await startInstance({
    ...OUTSIDE,
    smtpd_forbid_bare_newline: 'note',
  });
  const from = LOG.length;
  try {
    const { client } = await session(inst, '\n.\n');
    client.send('QUIT');
    await client.reply();
    await waitForLog(/^disconnect from .* commands=5 notes=bare_lf$/, from);
  } finally {
    await inst.close();
  }
});

test('does normalize a bare <LF> to a line end when smtpd_forbid_bare_newline=normalize', async () => {
  const inst = await startInstance(OUTSIDE);
  try {
    const { client } = await session(inst, '\n');
    client.close();
    const body = inst.queued[0].records
      .filter((r) => r.type === 'N')
      .map((r) => r.data);
    assert.ok(body.includes('first body'));
    assert.ok(body.includes('MAIL FROM:<evil@attacker.example>'));
  } finally {
    await inst.close();
  }
});

// The contrast that shows the defence matters: Postfix before 3.9 (and
// clients in smtpd_forbid_bare_newline_exclusions) end DATA at <LF>.<LF>.
test('does end DATA at <LF>.<LF> when smtpd_forbid_bare_newline=no and pipelining is not policed', async () => {
  const inst = await startInstance({
    ...OUTSIDE,
    smtpd_forbid_bare_newline: 'no',
    smtpd_forbid_unauth_pipelining: 'no',
  });
  try {
    const { replies, client } = await session(inst, '\n.\n');
    assert.match(replies[replies.length - 1], /^250 2\.0\.0 Ok: queued as /);
    const more = [];
    for (let i = 0; i < 4; i++) more.push((await client.reply())?.[0]);
    client.close();
    assert.match(more[3] ?? '', /^250 2\.0\.0 Ok: queued as /);
    assert.equal(queueFiles(inst.queueDir).length, 2);
  } finally {
    await inst.close();
  }
});

test('does exempt mynetworks clients by default (smtpd_forbid_bare_newline_exclusions)', async () => {
  const inst = await startInstance({ smtpd_forbid_bare_newline: 'reject' });
  try {
    const { replies, client } = await session(inst, '\n');
    client.close();
    assert.match(lastReply(replies), /^250 2\.0\.0 Ok: queued as /);
  } finally {
    await inst.close();
  }
});

// The second defence: the smuggled DATA arrives with its content already
// behind it, which RFC 2920 forbids, so the session ends there.
test('does stop a smuggled message at its DATA when smtpd_forbid_bare_newline=no and smtpd_forbid_unauth_pipelining=yes', async () => {
  const inst = await startInstance({
    ...OUTSIDE,
    smtpd_forbid_bare_newline: 'no',
  });
  try {
    const { client } = await session(inst, '\n.\n');
    const more = [];
    for (let i = 0; i < 3; i++) more.push((await client.reply())?.[0]);
    assert.equal(more[2], '554 5.5.0 Error: SMTP protocol synchronization');
    assert.ok(await client.waitClosed());
    assert.equal(queueFiles(inst.queueDir).length, 1);
  } finally {
    await inst.close();
  }
});
