// Tests of per-recipient NOTIFY and ORCPT on nodemailer's SMTPConnection
// against the scripted sink on loopback. The first test is the alarm for
// a nodemailer upgrade that changes the private method we wrap.

import test from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startSink, type SinkScript } from '../../test/sink/smtp_sink';
import {
  notifyKeyword,
  orcptOf,
  RCPT_DSN_SUPPORTED,
  useRcptDsn,
  type RcptDsn,
  type RcptDsnTable,
} from './smtp_rcpt_dsn';

const TABLE = new Map<string, RcptDsn>([
  ['a@example.net', { notify: 'SUCCESS,DELAY', orcpt: 'rfc822;x+y@o.example' }],
  ['b@example.net', { notify: 'NEVER', orcpt: 'rfc822;b=c@o.example' }],
]);

async function rcptLines(
  script: SinkScript,
  lmtp = false,
  table: RcptDsnTable = TABLE,
) {
  const sink = await startSink({ ...script, lmtp });
  try {
    const conn = new SMTPConnection({
      host: '127.0.0.1',
      port: sink.port,
      lmtp,
    });
    conn.on('error', () => undefined);
    await new Promise<void>((ok, fail) =>
      conn.connect((e) => (e ? fail(e) : ok())),
    );
    useRcptDsn(conn, table);
    const envelope = {
      from: 's@example.com',
      to: [...table.keys(), 'c@example.net'],
      dsn: { ret: 'HDRS', envid: 'E+1' },
    };
    await new Promise<void>((ok, fail) =>
      conn.send(
        envelope as never,
        Readable.from(['Subject: x\r\n\r\nx\r\n']),
        (e) => (e ? fail(e) : ok()),
      ),
    );
    const ended = new Promise((ok) => conn.once('end', ok));
    conn.quit();
    await ended;
    return sink.commands.filter((c) => /^(MAIL|RCPT)/.test(c));
  } finally {
    await sink.close();
  }
}

test('does find the nodemailer method it wraps (fails on an upgrade that changes it)', () => {
  assert.equal(RCPT_DSN_SUPPORTED, true);
});

for (const lmtp of [false, true])
  test(`does give each RCPT TO its own NOTIFY and ORCPT when the peer offers DSN (${lmtp ? 'LMTP' : 'SMTP'})`, async () => {
    assert.deepEqual(await rcptLines({}, lmtp), [
      'MAIL FROM:<s@example.com> RET=HDRS ENVID=E+2B1',
      'RCPT TO:<a@example.net> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+2By@o.example',
      'RCPT TO:<b@example.net> NOTIFY=NEVER ORCPT=rfc822;b+3Dc@o.example',
      'RCPT TO:<c@example.net>',
    ]);
  });

test('does send a UTF-8 ORCPT as utf-8 type that xtext leaves alone', async () => {
  const table: RcptDsnTable = new Map([
    ['d@example.net', { orcpt: orcptOf('', 'dörte+1@example.net') }],
  ]);
  assert.deepEqual(await rcptLines({}, false, table), [
    'MAIL FROM:<s@example.com> RET=HDRS ENVID=E+2B1',
    'RCPT TO:<d@example.net> ORCPT=utf-8;d\\x{F6}rte\\x{2B}1@example.net',
    'RCPT TO:<c@example.net>',
  ]);
});

test('does send no DSN parameter when the peer does not offer DSN', async () => {
  const ehlo = '250-sink.example\r\n250 PIPELINING\r\n';
  assert.deepEqual(await rcptLines({ ehlo }), [
    'MAIL FROM:<s@example.com>',
    'RCPT TO:<a@example.net>',
    'RCPT TO:<b@example.net>',
    'RCPT TO:<c@example.net>',
  ]);
});

const NOTIFY_CASES: Array<[number, string | undefined]> = [
  [0, undefined],
  [1, 'NEVER'],
  [2, 'SUCCESS'],
  [4 | 8, 'FAILURE,DELAY'],
  [2 | 4 | 8, 'SUCCESS,FAILURE,DELAY'],
];

for (const [flags, word] of NOTIFY_CASES)
  test(`does write NOTIFY=${word} when the notify flags are ${flags}`, () => {
    assert.equal(notifyKeyword(flags), word);
  });

const ORCPT_CASES: Array<[string, string, string | undefined]> = [
  ['rfc822;given@o.example', 'orig@example.net', 'rfc822;given@o.example'],
  ['', 'orig@example.net', 'rfc822;orig@example.net'],
  ['', 'a b@example.net', 'rfc822;"a b"@example.net'],
  ['', '', undefined],
  // RFC 6533: a non-ASCII address as utf-8, in its 7-bit form.
  ['', 'josé@example.net', 'utf-8;jos\\x{E9}@example.net'],
  ['', 'a+b=c@example.net', 'rfc822;a+b=c@example.net'],
  ['rfc822;rené@o.example', 'x@example.net', 'utf-8;ren\\x{E9}@o.example'],
  ['utf-8;rené@o.example', 'x@example.net', 'utf-8;ren\\x{E9}@o.example'],
  ['UTF-8;ren\\x{E9}@o.example', '', 'utf-8;ren\\x{E9}@o.example'],
  ['utf-8;x+1=\\@o.example', '', 'utf-8;x\\x{2B}1\\x{3D}\\x{5C}@o.example'],
  ['utf-8;日本@o.example', '', 'utf-8;\\x{65E5}\\x{672C}@o.example'],
];

for (const [dsn, orig, want] of ORCPT_CASES)
  test(`does take ORCPT ${want} when dsn_orig_rcpt is "${dsn}" and the original "${orig}"`, () => {
    assert.equal(orcptOf(dsn, orig), want);
  });
