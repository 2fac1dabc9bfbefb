// qmgr's synchronous status-log checks on real files: a missing log is
// told by one stat, with no unlink or read that would throw; a log that
// is there is read or removed.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { makeQueueTree } from '../../packages/queue/mail_queue';
import { appendStatus, STATUS_LOG } from '../../packages/queue/status_log';
import { dropStatusLog, readStatusLogNow } from './qmgr_status_log';
// The module itself, not a namespace copy: its functions can be wrapped.
import realFs = require('node:fs');

function setup(t: { after: (fn: () => void) => void }) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_status_log-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const queueDir = path.join(root, 'queue');
  makeQueueTree(queueDir);
  fs.mkdirSync(path.join(root, 'etc'));
  fs.writeFileSync(
    path.join(root, 'etc', 'main.cf'),
    `queue_directory = ${queueDir}\n`,
  );
  return {
    queueDir,
    config: Config.load({ configDir: path.join(root, 'etc') }),
  };
}

// Counts the calls that a missing log made throw before.
function counting<T>(fn: () => T): { result: T; calls: number } {
  let calls = 0;
  const { unlinkSync, readFileSync } = realFs;
  const count =
    <A extends unknown[], R>(f: (...a: A) => R) =>
    (...a: A): R => {
      calls++;
      return f(...a);
    };
  realFs.unlinkSync = count(unlinkSync);
  realFs.readFileSync = count(readFileSync) as typeof readFileSync;
  try {
    return { result: fn(), calls };
  } finally {
    realFs.unlinkSync = unlinkSync;
    realFs.readFileSync = readFileSync;
  }
}

test('does tell a missing status log without an unlink or a read', (t) => {
  const { queueDir, config } = setup(t);
  for (const log of Object.values(STATUS_LOG)) {
    const dropped = counting(() =>
      dropStatusLog(queueDir, log, 'ABC123', config),
    );
    assert.deepEqual(dropped, { result: false, calls: 0 });
    const read = counting(() =>
      readStatusLogNow(queueDir, log, 'ABC123', config),
    );
    assert.deepEqual(read, { result: [], calls: 0 });
  }
});

test('does read and remove a status log when it is there', async (t) => {
  const { queueDir, config } = setup(t);
  const record = {
    recipient: 'bob@example.com',
    offset: 123,
    status: '5.1.1',
    action: 'failed',
    reason: 'user unknown',
  };
  await appendStatus(queueDir, STATUS_LOG.BOUNCE, 'ABC124', record, config);
  const records = readStatusLogNow(
    queueDir,
    STATUS_LOG.BOUNCE,
    'ABC124',
    config,
  );
  assert.deepEqual(
    records.map((r) => [r.recipient, r.offset, r.status]),
    [['bob@example.com', 123, '5.1.1']],
  );
  assert.equal(
    dropStatusLog(queueDir, STATUS_LOG.BOUNCE, 'ABC124', config),
    true,
  );
  assert.equal(
    dropStatusLog(queueDir, STATUS_LOG.BOUNCE, 'ABC124', config),
    false,
  );
});
