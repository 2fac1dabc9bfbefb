// The smtp client against a scripted peer on loopback (test/sink): what
// each recipient's result, D mark and log line say for good replies,
// refusals, and peers that misbehave (issue 5 points 1 and 8). Runs the
// delivery routine in this process over real sockets and queue files.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { addLogSink } from '../packages/log/log';
import type { DeliveryRequest } from '../packages/queue/delivery';
import { REC } from '../packages/queue/record';
import {
  testRequest,
  writeQueueFile,
  type TestMessage,
} from '../services/local/local_testkit';
import {
  deliverSmtpRequest,
  type SmtpSettings,
} from '../services/smtp/smtp_deliver';
import { startSink, type SinkScript } from './sink/smtp_sink';
import { smtpTestSettings } from './smtp_settings';

const LOG: string[] = [];
addLogSink((line) => LOG.push(line));

function settings(extra: Partial<SmtpSettings> = {}): SmtpSettings {
  return smtpTestSettings({ quitTimeoutMs: 1000, ...extra });
}

const TWO: TestMessage = {
  recipients: [
    { recipient: 'bob@example.net' },
    { recipient: 'carol@example.net' },
  ],
};

interface Run {
  results: Awaited<ReturnType<typeof deliverSmtpRequest>>;
  types: string[]; // R or D per recipient after the delivery
  log: string[];
}

async function deliver(
  nexthop: string,
  m: TestMessage = TWO,
  s = settings(),
  extra: Partial<DeliveryRequest> = {},
): Promise<Run> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-sink-'));
  try {
    const q = writeQueueFile(dir, m);
    const req = { ...testRequest(q, m, 'QID1'), nexthop, ...extra };
    const from = LOG.length;
    const results = await deliverSmtpRequest(s, req, q.file);
    const bytes = fs.readFileSync(q.file);
    const types = q.offsets.map((o) => String.fromCharCode(bytes[o]));
    return { results, types, log: LOG.slice(from) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function withSink(
  script: SinkScript,
  body: (
    hop: string,
    sink: Awaited<ReturnType<typeof startSink>>,
  ) => Promise<void>,
) {
  const sink = await startSink(script);
  try {
    await body(`[127.0.0.1]:${sink.port}`, sink);
  } finally {
    await sink.close();
  }
}

function summary(run: Run) {
  return run.results.results.map((r) => [r.status, r.action, r.reason]);
}

test('does relay to [host]:port, mark D and log sent', async () => {
  await withSink({}, async (hop, sink) => {
    const run = await deliver(hop);
    assert.deepEqual(run.types, [REC.DONE, REC.DONE]);
    const reason = '250 2.0.0 Ok: queued as SINK1';
    assert.deepEqual(summary(run), [
      ['2.0.0', 'relayed', reason],
      ['2.0.0', 'relayed', reason],
    ]);
    assert.equal(sink.messages.length, 1);
    assert.deepEqual(
      sink.messages[0].to,
      TWO.recipients!.map((r) => r.recipient),
    );
    assert.match(sink.messages[0].data, /^From: alice@example.com\r\n/m);
    assert.ok(sink.commands.includes('EHLO client.example'));
    assert.match(
      run.log[0],
      new RegExp(
        `: QID1: to=<bob@example.net>, relay=127.0.0.1\\[127.0.0.1\\]:${sink.port}, ` +
          'delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, ' +
          'dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok: queued as SINK1\\)$',
      ),
    );
  });
});

// Each row: a script, then what every recipient should get.
const REPLIES: Array<[string, SinkScript, Array<[string, string, RegExp]>]> = [
  [
    'keep per-recipient replies when one RCPT is refused',
    {
      rcpt: (a) =>
        a.startsWith('bob')
          ? `550 5.1.1 <${a}>: Recipient address rejected: User unknown\r\n`
          : '250 2.1.5 Ok\r\n',
    },
    [
      [
        '5.1.1',
        'failed',
        /^host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 <bob@example\.net>: Recipient address rejected: User unknown \(in reply to RCPT TO command\)$/,
      ],
      ['2.0.0', 'relayed', /^250 2\.0\.0 Ok: queued as SINK1$/],
    ],
  ],
  [
    'defer all on a 4xx reply to MAIL FROM',
    { mail: '451 4.3.0 Try later\r\n' },
    [
      [
        '4.3.0',
        'delayed',
        /said: 451 4\.3\.0 Try later \(in reply to MAIL FROM command\)$/,
      ],
      [
        '4.3.0',
        'delayed',
        /said: 451 4\.3\.0 Try later \(in reply to MAIL FROM command\)$/,
      ],
    ],
  ],
  [
    'bounce all on a 5xx reply to the end of DATA',
    { dot: '554 5.7.1 Spam\r\n' },
    [
      [
        '5.7.1',
        'failed',
        /said: 554 5\.7\.1 Spam \(in reply to end of DATA command\)$/,
      ],
      [
        '5.7.1',
        'failed',
        /said: 554 5\.7\.1 Spam \(in reply to end of DATA command\)$/,
      ],
    ],
  ],
  [
    'join a multi-line reply and add a class DSN when it has none',
    { rcpt: '550-no such\r\n550 user here\r\n' },
    [
      [
        '5.0.0',
        'failed',
        /said: 550 no such user here \(in reply to RCPT TO command\)$/,
      ],
      [
        '5.0.0',
        'failed',
        /said: 550 no such user here \(in reply to RCPT TO command\)$/,
      ],
    ],
  ],
  [
    'say refused to talk to me on a 554 greeting',
    { greeting: '554 5.7.1 go away\r\n' },
    [
      [
        '5.7.1',
        'failed',
        /^host 127\.0\.0\.1\[127\.0\.0\.1\] refused to talk to me: 554 5\.7\.1 go away$/,
      ],
      ['5.7.1', 'failed', /refused to talk to me/],
    ],
  ],
];

for (const [name, script, want] of REPLIES)
  test(`does ${name}`, async () => {
    await withSink(script, async (hop) => {
      const run = await deliver(hop);
      const got = summary(run);
      assert.equal(got.length, want.length);
      want.forEach(([dsn, action, reason], i) => {
        assert.equal(got[i][0], dsn, `dsn ${i}: ${got[i][2]}`);
        assert.equal(got[i][1], action);
        assert.match(got[i][2], reason);
      });
      const done = want.map(([d]) => (d.startsWith('2') ? REC.DONE : REC.RCPT));
      assert.deepEqual(run.types, done);
    });
  });

test('does defer with dsn 4.4.1 when the connection is refused', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  const run = await deliver(`[127.0.0.1]:${port}`);
  const reason = `connect to 127.0.0.1[127.0.0.1]:${port}: Connection refused`;
  assert.deepEqual(summary(run), [
    ['4.4.1', 'delayed', reason],
    ['4.4.1', 'delayed', reason],
  ]);
  assert.deepEqual(run.results.siteFailure, { status: '4.4.1', reason });
  assert.match(run.log[0], /relay=none, .*status=deferred \(connect to /);
});

const EHLO_WITHOUT = (ext: string) =>
  '250-sink.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n' +
  '250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n'
    .split('\r\n')
    .filter((l) => !l.includes(ext))
    .join('\r\n');

test('does bounce with 5.3.4 when the message exceeds the peer SIZE', async () => {
  await withSink(
    { ehlo: EHLO_WITHOUT('none').replace('SIZE 1000', 'SIZE 10') },
    async (hop, sink) => {
      const run = await deliver(hop, TWO, settings(), { size: 100 });
      const reason =
        'message size 100 exceeds size limit 10 of server 127.0.0.1[127.0.0.1]';
      assert.deepEqual(summary(run)[0], ['5.3.4', 'failed', reason]);
      assert.equal(sink.messages.length, 0);
    },
  );
});

test('does bounce UTF-8 mail with 5.6.7 when the peer lacks SMTPUTF8', async () => {
  const m = { recipients: [{ recipient: 'jürgen@example.net' }] };
  await withSink({ ehlo: EHLO_WITHOUT('SMTPUTF8') }, async (hop, sink) => {
    const run = await deliver(hop, m);
    assert.deepEqual(summary(run)[0], [
      '5.6.7',
      'failed',
      'SMTPUTF8 is required, but was not offered by host 127.0.0.1[127.0.0.1]',
    ]);
    assert.equal(sink.messages.length, 0);
  });
  await withSink({}, async (hop, sink) => {
    const run = await deliver(hop, m);
    assert.equal(summary(run)[0][1], 'relayed');
    assert.ok(sink.commands.some((c) => /^MAIL FROM:<.*> .*SMTPUTF8/.test(c)));
  });
});

test('does pass BODY=8BITMIME and the DSN parameters on', async () => {
  await withSink({}, async (hop, sink) => {
    const m = { recipients: [{ recipient: 'bob@example.net' }] };
    const q = { encoding: '8bit', envelopeId: 'ENV42', retFlags: 2 };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-sink-'));
    try {
      const file = writeQueueFile(dir, m);
      const req = { ...testRequest(file, m, 'QID1'), ...q };
      req.nexthop = hop;
      req.recipients[0].notifyFlags = 4 | 8;
      await deliverSmtpRequest(settings(), req, file.file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const mail = sink.commands.find((c) => c.startsWith('MAIL FROM'))!;
    assert.match(mail, /BODY=8BITMIME/);
    assert.match(mail, /RET=HDRS/);
    assert.match(mail, /ENVID=ENV42/);
    const rcpt = sink.commands.find((c) => c.startsWith('RCPT TO'))!;
    assert.match(rcpt, /NOTIFY=FAILURE,DELAY/);
  });
});

test('does fall back to HELO when EHLO is refused', async () => {
  await withSink({ ehlo: '502 5.5.2 no EHLO here\r\n' }, async (hop, sink) => {
    const run = await deliver(hop);
    assert.equal(summary(run)[0][1], 'relayed');
    assert.ok(sink.commands.includes('HELO client.example'));
  });
});

test('does send the null sender as MAIL FROM:<>', async () => {
  await withSink({}, async (hop, sink) => {
    await deliver(hop, { ...TWO, sender: '' }, settings(), { sender: '' });
    assert.ok(sink.commands.some((c) => /^MAIL FROM:<>/.test(c)));
  });
});

test('does time out with smtp_helo_timeout when the peer never greets', async () => {
  await withSink({ greeting: { send: '' } }, async (hop) => {
    const started = Date.now();
    const run = await deliver(hop, TWO, settings({ heloTimeoutMs: 500 }));
    assert.ok(Date.now() - started < 1900);
    assert.deepEqual(summary(run)[0], [
      '4.4.2',
      'delayed',
      'conversation with host 127.0.0.1[127.0.0.1] timed out while receiving the initial server greeting',
    ]);
  });
});

test('does go on to smtp_fallback_relay when the nexthop refuses', async () => {
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const port = (dead.address() as net.AddressInfo).port;
  await new Promise((r) => dead.close(r));
  await withSink({}, async (hop, sink) => {
    const s = settings({ fallbackRelays: [hop] });
    const run = await deliver(`[127.0.0.1]:${port}`, TWO, s);
    assert.equal(summary(run)[0][1], 'relayed');
    assert.equal(sink.messages.length, 1);
  });
});

test('does bounce with 5.4.6 when the peer greets with our own name', async () => {
  await withSink(
    { greeting: '220 client.example ESMTP\r\n' },
    async (hop, sink) => {
      const run = await deliver(hop);
      assert.deepEqual(summary(run)[0], [
        '5.4.6',
        'failed',
        `mail for ${hop} loops back to myself`,
      ]);
      assert.equal(sink.messages.length, 0);
    },
  );
});

test('does time out with smtp_data_done_timeout after the content', async () => {
  await withSink({ dot: { send: '' } }, async (hop) => {
    const s = settings({ doneTimeoutMs: 300 });
    const run = await deliver(hop, TWO, s);
    assert.deepEqual(summary(run)[0], [
      '4.4.2',
      'delayed',
      'conversation with host 127.0.0.1[127.0.0.1] timed out while sending end of data -- message may be sent more than once',
    ]);
    assert.deepEqual(run.types, [REC.RCPT, REC.RCPT]);
  });
});

const EIGHT_BIT: TestMessage = {
  recipients: [{ recipient: 'bob@example.net' }],
  lines: [
    'From: alice@example.com',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Grüße aus Köln',
    '--b1',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'plain ascii',
    '--b1--',
  ],
};

async function send8bit(script: SinkScript, convert = true) {
  let data = '';
  await withSink(script, async (hop, sink) => {
    const s = settings({ mimeConversion: convert });
    const run = await deliver(hop, EIGHT_BIT, s, { encoding: '8bit' });
    assert.equal(summary(run)[0][1], 'relayed');
    data = sink.messages[0].data;
  });
  return data;
}

test('does convert 8-bit parts to quoted-printable for a peer without 8BITMIME', async () => {
  const data = await send8bit({ ehlo: EHLO_WITHOUT('8BITMIME') });
  assert.doesNotMatch(data, /[^\x00-\x7f]/);
  assert.match(data, /^Content-Transfer-Encoding: quoted-printable\r$/m);
  assert.match(data, /^Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r$/m);
  assert.match(data, /^plain ascii\r$/m);
});

test('does send 8-bit content as it is to a peer with 8BITMIME', async () => {
  const data = await send8bit({});
  const text = Buffer.from(data, 'latin1').toString('utf8');
  assert.match(text, /^Grüße aus Köln\r$/m);
});

test('does send 8-bit content as it is with disable_mime_output_conversion', async () => {
  const data = await send8bit({ ehlo: EHLO_WITHOUT('8BITMIME') }, false);
  assert.match(data, /^Content-Transfer-Encoding: 8bit\r$/m);
});
