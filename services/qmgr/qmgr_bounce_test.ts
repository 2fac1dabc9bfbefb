// Tests for qmgr_bounce.ts's trace side: when qmgr asks for a report, and
// the trace_flags record killed once the report of -v or -bv is out, on
// real queue files in a temporary queue directory.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { makeQueueTree } from '../../packages/queue/mail_queue';
import { readEnvelope } from '../../packages/queue/queue_file';
import { initLog } from '../../packages/log/log';
import { killTraceFlags, notifyTrace } from './qmgr_bounce';
import { writeQueueFile, type FixtureSpec } from './qmgr_fixture';
import { QmgrMessage } from './qmgr_message';

initLog({ processName: 'qmgr', sinks: [] });

function setup(t: test.TestContext) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_trace_test-'));
  const queueDir = path.join(root, 'queue');
  const configDir = path.join(root, 'etc');
  makeQueueTree(queueDir);
  fs.mkdirSync(configDir);
  fs.writeFileSync(
    path.join(configDir, 'main.cf'),
    `queue_directory = ${queueDir}\nmyhostname = mx.test.example\n`,
  );
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  return { queueDir, config: Config.load({ configDir }) };
}

function spec(attrs: Record<string, string>): FixtureSpec {
  return {
    sender: 'alice@example.org',
    recipients: [{ address: 'bob@example.com' }],
    attrs,
  };
}

test('does kill the trace_flags record and keep the rest', async (t) => {
  const { queueDir } = setup(t);
  const file = path.join(queueDir, 'active', 'TRC001');
  writeQueueFile(file, spec({ trace_flags: '1024', rewrite_context: 'local' }));
  await killTraceFlags(await readEnvelope(file));
  const env = await readEnvelope(file);
  assert.equal(env.attrs.trace_flags, undefined);
  assert.equal(env.attrs.rewrite_context, 'local');
  assert.deepEqual(
    env.recipients.map((r) => r.recipient),
    ['bob@example.com'],
  );
});

// [trace_flags, kept after notifyTrace]: -v and -bv lose the flags once
// reported; a message without them is left alone.
const CASES: Array<[string | undefined, string | undefined]> = [
  ['1024', undefined],
  ['512', undefined],
  [undefined, undefined],
];

test('does report -v and -bv once, with no report due when trace/ID is empty', async (t) => {
  const ctx = setup(t);
  for (const [i, [flags, kept]] of CASES.entries()) {
    const file = path.join(ctx.queueDir, 'active', `TRC10${i}`);
    writeQueueFile(file, spec(flags ? { trace_flags: flags } : {}));
    const message = new QmgrMessage(await readEnvelope(file), 0);
    // No trace service and no trace/ID: nothing to send, and done.
    assert.equal(await notifyTrace(ctx, message), true, String(flags));
    assert.equal((await readEnvelope(file)).attrs.trace_flags, kept);
  }
});
