// Unit tests of the discard agent: D marks in a real queue file, the
// results and the reason.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REC } from '../../packages/queue/record';
import { testRequest, writeQueueFile } from '../local/local_testkit';
import { discardReason, discardRecipients } from './discard';

test('does use the nexthop as reason, or "discarded"', () => {
  assert.equal(discardReason('silently dropped'), 'silently dropped');
  assert.equal(discardReason(''), 'discarded');
});

test('does mark every recipient done and answer delivered', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'discard-'));
  try {
    const m = {
      recipients: [{ recipient: 'a@x.example' }, { recipient: 'b@x.example' }],
    };
    const q = writeQueueFile(dir, m);
    const req = { ...testRequest(q, m), nexthop: '' };
    const results = await discardRecipients(req, q.file);
    assert.deepEqual(
      results.map((r) => [r.status, r.action, r.reason]),
      [
        ['2.0.0', 'delivered', 'discarded'],
        ['2.0.0', 'delivered', 'discarded'],
      ],
    );
    const bytes = fs.readFileSync(q.file);
    assert.deepEqual(
      q.offsets.map((o) => String.fromCharCode(bytes[o])),
      [REC.DONE, REC.DONE],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
