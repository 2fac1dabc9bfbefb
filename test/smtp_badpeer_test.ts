// Issue 5 point 8: a peer that breaks the protocol loses nothing. Each
// row is a scripted sink; every recipient must be deferred (never marked
// done, never bounced) with a clear reason, or relayed exactly once, and
// the client must go on to deliver the next message.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REC } from '../packages/queue/record';
import { testRequest, writeQueueFile } from '../services/local/local_testkit';
import {
  deliverSmtpRequest,
  type SmtpSettings,
} from '../services/smtp/smtp_deliver';
import { startSink, type SinkScript } from './sink/smtp_sink';
import { smtpTestSettings } from './smtp_settings';

const SETTINGS: SmtpSettings = smtpTestSettings();

const PEER = '127.0.0.1[127.0.0.1]';
const HUGE = '250 ' + 'x'.repeat(10 * 1024 * 1024) + '\r\n';

const ROWS: Array<[string, SinkScript, string, RegExp]> = [
  [
    'a greeting without CRLF',
    { greeting: '220 sink.example ESMTP' },
    'delayed',
    new RegExp(
      `^conversation with host ${esc(PEER)} timed out while receiving the initial server greeting$`,
    ),
  ],
  [
    'a reply to MAIL without CRLF, then a close',
    { mail: { send: '250 2.1.0 Ok', then: 'close' } },
    'delayed',
    new RegExp(`^lost connection with host ${esc(PEER)} while `),
  ],
  [
    'a multi-line EHLO reply cut off',
    { ehlo: { send: '250-sink.example\r\n250-PIPEL', then: 'close' } },
    'delayed',
    new RegExp(
      `^lost connection with host ${esc(PEER)} while receiving the initial server greeting$`,
    ),
  ],
  [
    'a 10 MB reply line',
    { rcpt: HUGE },
    'delayed',
    new RegExp(
      `^conversation with host ${esc(PEER)} failed: reply exceeds the length limit$`,
    ),
  ],
  [
    'a close after the content, before the reply',
    { dot: { then: 'close' } },
    'delayed',
    new RegExp(
      `^lost connection with host ${esc(PEER)} while sending end of data -- message may be sent more than once$`,
    ),
  ],
  [
    'a reset after 250 to MAIL',
    { mail: { send: '250 2.1.0 Ok\r\n', then: 'reset' } },
    'delayed',
    new RegExp(`^lost connection with host ${esc(PEER)} while `),
  ],
  [
    'a reply that is not SMTP',
    { rcpt: 'hello there\r\n' },
    'delayed',
    new RegExp(
      `^host ${esc(PEER)} said: hello there \\(in reply to RCPT TO command\\)$`,
    ),
  ],
  [
    'a reset right after 250 to the content',
    { dot: { send: '250 2.0.0 Ok: queued as X\r\n', then: 'reset' } },
    'relayed',
    /^250 2\.0\.0 Ok: queued as X$/,
  ],
];

function esc(text: string): string {
  return text.replace(/[[\]().]/g, '\\$&');
}

async function deliverOnce(port: number, dir: string) {
  const m = { recipients: [{ recipient: 'bob@example.net' }] };
  const q = writeQueueFile(dir, m);
  const req = { ...testRequest(q, m, 'QID2'), nexthop: `[127.0.0.1]:${port}` };
  const out = await deliverSmtpRequest(SETTINGS, req, q.file);
  const type = String.fromCharCode(fs.readFileSync(q.file)[q.offsets[0]]);
  return { result: out.results[0], type };
}

for (const [what, script, action, reason] of ROWS)
  test(`does not lose or double mail when the peer sends ${what}`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-bad-'));
    const sink = await startSink(script);
    try {
      const { result, type } = await deliverOnce(sink.port, dir);
      assert.equal(result.action, action, result.reason);
      assert.match(result.reason, reason);
      assert.equal(type, action === 'relayed' ? REC.DONE : REC.RCPT);
      assert.match(result.status, action === 'relayed' ? /^2\./ : /^4\./);
      assert.ok(sink.messages.length <= 1);
    } finally {
      await sink.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

test('does deliver again after a peer that misbehaved', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-bad-'));
  const bad = await startSink({ dot: { then: 'close' } });
  const good = await startSink({});
  try {
    assert.equal((await deliverOnce(bad.port, dir)).result.action, 'delayed');
    const again = await deliverOnce(good.port, dir);
    assert.equal(again.result.action, 'relayed');
    assert.equal(good.messages.length, 1);
  } finally {
    await bad.close();
    await good.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('does defer, not crash, when the queue file content cannot be read', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-bad-'));
  const sink = await startSink({});
  try {
    const m = { recipients: [{ recipient: 'bob@example.net' }] };
    const q = writeQueueFile(dir, m);
    // An offset into the middle of a record: the content is unreadable.
    const req = {
      ...testRequest(q, m, 'QID4'),
      nexthop: `[127.0.0.1]:${sink.port}`,
      offset: q.dataOffset + 3,
    };
    const out = await deliverSmtpRequest(SETTINGS, req, q.file);
    assert.equal(out.results[0].action, 'delayed');
    assert.match(out.results[0].reason, /^queue file read error: /);
    assert.equal(sink.messages.length, 0);
  } finally {
    await sink.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
