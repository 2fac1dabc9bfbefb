// Tests for queue_file.ts on real files in a temporary folder, written in
// Postfix's layout by the qmgr fixture (pointer records included).

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  contentLines,
  markRecipientDone,
  markRecipientDoneSync,
  openForDelivery,
  QueueFileError,
  readEnvelope,
  readEnvelopeIfFree,
} from './queue_file';
import {
  buildQueueFile,
  writeQueueFile,
} from '../../services/qmgr/qmgr_fixture';
import type { FixtureSpec } from '../../services/qmgr/qmgr_fixture';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue_file_test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const SPEC: FixtureSpec = {
  sender: 'alice@example.org',
  arrival: 1700000000.25,
  attrs: { log_client_name: 'mx.example.net' },
  recipients: [
    { address: 'bob@example.com', orig: 'bob', notify: 6, dsnOrig: 'rfc822;b' },
    { address: 'done@example.com', done: true },
  ],
  heapRecipients: [{ address: 'carol@example.com' }],
  lines: ['Subject: hi', '', 'x'.repeat(5000), 'end'],
};

test('reads the envelope and follows pointer records', async (t) => {
  const file = path.join(tempDir(t), 'ABC123');
  writeQueueFile(file, SPEC);
  const env = await readEnvelope(file);
  assert.equal(env.queueId, 'ABC123');
  assert.equal(env.sender, 'alice@example.org');
  assert.equal(env.arrivalTime, 1700000000.25);
  assert.equal(env.rcptCount, 3);
  assert.equal(env.attrs.log_client_name, 'mx.example.net');
  assert.equal(env.attrs.rewrite_context, 'local');
  const got = env.recipients.map((r) => [r.recipient, r.originalRecipient]);
  assert.deepEqual(got, [
    ['bob@example.com', 'bob'],
    ['carol@example.com', 'carol@example.com'],
  ]);
  assert.equal(env.recipients[0].notifyFlags, 6);
  assert.equal(env.recipients[0].dsnOrigRcpt, 'rfc822;b');
  assert.deepEqual(
    env.done.map((r) => r.recipient),
    ['done@example.com'],
  );
  const bytes = fs.readFileSync(file);
  for (const r of env.recipients) assert.equal(bytes[r.offset], 0x52); // R
  assert.equal(bytes[env.dataOffset - 2], 0x4d); // M
});

// A Postfix-layout file whose p record (before M) points at itself.
function selfPointer(): Buffer {
  const buf = Buffer.from(buildQueueFile({ ...SPEC, heapRecipients: [] }));
  const at = buf.indexOf(Buffer.from('p\x0f'));
  buf.write(String(at).padStart(15, ' '), at + 2, 'latin1');
  return buf;
}

const CORRUPT: Array<[string, () => Buffer | FixtureSpec]> = [
  ['the file is mode 0600', () => ({ ...SPEC, mode: 0o600 })],
  ['the E record is missing', () => ({ ...SPEC, omitEnd: true })],
  ['a record is truncated', () => buildQueueFile(SPEC).subarray(0, 40)],
  ['there is no sender', () => Buffer.from('C\x05    0')],
  ['a pointer record points at itself', () => selfPointer()],
];

for (const [when, make] of CORRUPT) {
  test(`rejects the file as corrupt when ${when}`, async (t) => {
    const file = path.join(tempDir(t), 'BAD1');
    const made = make();
    if (Buffer.isBuffer(made)) fs.writeFileSync(file, made, { mode: 0o700 });
    else writeQueueFile(file, made);
    await assert.rejects(readEnvelope(file), QueueFileError);
  });
}

test('streams content lines joining long-line pieces', async (t) => {
  const file = path.join(tempDir(t), 'ABC124');
  writeQueueFile(file, SPEC);
  const env = await readEnvelope(file);
  const lines: string[] = [];
  for await (const line of contentLines(file, env.dataOffset))
    lines.push(line.toString());
  assert.deepEqual(lines, SPEC.lines);
});

test('marks a recipient done in place and refuses a wrong offset', async (t) => {
  const file = path.join(tempDir(t), 'ABC125');
  writeQueueFile(file, SPEC);
  const before = await readEnvelope(file);
  await markRecipientDone(file, before.recipients[1].offset);
  await markRecipientDone(file, before.recipients[1].offset); // no-op
  const after = await readEnvelope(file);
  assert.deepEqual(
    after.recipients.map((r) => r.recipient),
    ['bob@example.com'],
  );
  assert.equal(after.done.length, 2);
  await assert.rejects(markRecipientDone(file, 1), QueueFileError);
});

test('does mark a recipient done without the thread pool when asked to', async (t) => {
  const file = path.join(tempDir(t), 'ABC127');
  writeQueueFile(file, SPEC);
  const before = await readEnvelope(file);
  const fd = fs.openSync(file, 'r+');
  try {
    markRecipientDoneSync(fd, before.recipients[0].offset);
    markRecipientDoneSync(fd, before.recipients[0].offset); // no-op
    assert.throws(() => markRecipientDoneSync(fd, 1), QueueFileError);
  } finally {
    fs.closeSync(fd);
  }
  const after = await readEnvelope(file);
  assert.deepEqual(
    after.recipients.map((r) => r.recipient),
    ['carol@example.com'],
  );
});

test('does give no envelope when an agent holds the file', async (t) => {
  const file = path.join(tempDir(t), 'ABC126');
  writeQueueFile(file, SPEC);
  const agent = await openForDelivery(file);
  try {
    assert.equal(await readEnvelopeIfFree(file), null);
  } finally {
    await agent.close();
  }
  const { stat: _free, ...free } = (await readEnvelopeIfFree(file))!;
  const { stat: _plain, ...plain } = await readEnvelope(file);
  assert.deepEqual(free, plain);
});

const FIXTURES = path.join(__dirname, '../../../test/fixtures');

test('reads queue files that Postfix 3.7 wrote', async (t) => {
  const dir = tempDir(t);
  const cases: Array<[string, string[], string[], number[]]> = [
    [
      'postfix_deferred_2rcpt',
      ['bob@[127.0.0.2]', 'carol@[127.0.0.2]'],
      [],
      [657, 733],
    ],
    [
      'postfix_deferred_1done',
      ['dave@[127.0.0.2]'],
      ['anchortest@anchor.test'],
      [752],
    ],
  ];
  for (const [name, pending, done, offsets] of cases) {
    const file = path.join(dir, name);
    fs.copyFileSync(path.join(FIXTURES, name), file);
    fs.chmodSync(file, 0o700);
    const env = await readEnvelope(file);
    assert.equal(env.sender, 'alice@example.org');
    assert.deepEqual(
      env.recipients.map((r) => r.recipient),
      pending,
    );
    assert.deepEqual(
      env.recipients.map((r) => r.offset),
      offsets,
    );
    assert.deepEqual(
      env.done.map((r) => r.recipient),
      done,
    );
    assert.equal(env.recipients[0].dsnOrigRcpt, `rfc822;${pending[0]}`);
    assert.equal(env.attrs.log_helo_name, 'client.example.org');
    const lines: Buffer[] = [];
    for await (const line of contentLines(file, env.dataOffset))
      lines.push(line);
    assert.ok(lines.some((l) => l.length === 3000));
    assert.match(lines[0].toString(), /^Received: /);
  }
});
