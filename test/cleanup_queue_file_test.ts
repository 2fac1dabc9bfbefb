// End-to-end: files our cleanup writes are read by qmgr's queue-file
// reader (packages/queue/queue_file.ts) with every recipient, its DSN
// details and offset, and the sizes from the C record.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readEnvelope, contentLines } from '../packages/queue/queue_file';
import {
  message,
  readQueueFile,
  SMTP_ATTRS,
  startCleanup,
  submit,
} from '../services/cleanup/cleanup_testkit';

test('does give qmgr every recipient when some are extracted', async () => {
  const h = await startCleanup();
  try {
    const long = 'y'.repeat(3000);
    const recs = message({
      attrs: SMTP_ATTRS,
      rcpts: ['a@example.com'],
      lines: ['Subject: x', '', 'body', long],
    });
    recs.splice(2, 0, ['n', '14'], ['o', 'rfc822;a@example.com']);
    recs.splice(recs.length - 1, 0, ['R', 'extracted@example.com']);
    const got = await submit(h.queueDir, 0, recs);
    const file = path.join(h.queueDir, 'incoming', got.queueId);
    const env = await readEnvelope(file);
    const offsets = readQueueFile(file).filter((r) => r.type === 'R');
    assert.deepEqual(
      env.recipients.map((r) => [
        r.recipient,
        r.dsnOrigRcpt,
        r.notifyFlags,
        r.offset,
      ]),
      [
        ['a@example.com', 'rfc822;a@example.com', 14, offsets[0].offset],
        ['extracted@example.com', '', 0, offsets[1].offset],
      ],
    );
    assert.equal(env.queueId, got.queueId);
    assert.equal(env.rcptCount, 2);
    assert.equal(env.sender, 'alice@example.org');
    const lines: string[] = [];
    for await (const line of contentLines(file, env.dataOffset))
      lines.push(line.toString());
    assert.equal(lines[lines.length - 1], long);
  } finally {
    await h.close();
  }
});
