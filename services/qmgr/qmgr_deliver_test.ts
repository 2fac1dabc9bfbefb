// How qmgr takes an agent's answers (qmgr_deliver.ts): a delivered
// recipient is done on the agent's word, with no open of the queue file
// of its own; a failed one is marked done by qmgr after its bounce
// record. Real queue files and a tiny real agent on a Unix socket.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { addLogSink, initLog } from '../../packages/log/log';
import { makeQueueTree, queuePath } from '../../packages/queue/mail_queue';
import { QueueManager } from './qmgr_manager';
import {
  DELIVER,
  TestAgent,
  writeQueueFile,
  type Decide,
} from './qmgr_fixture';

const LOG: string[] = [];
initLog({ processName: 'qmgr', sinks: [] });
addLogSink((line) => LOG.push(line.replace(/^.*?qmgr\[\d+\]: /, '')));

async function setup(
  t: { after: (fn: () => Promise<void>) => void },
  decide: Decide,
) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_deliver_test-'));
  const queueDir = path.join(root, 'queue');
  const configDir = path.join(root, 'etc');
  makeQueueTree(queueDir);
  fs.mkdirSync(configDir);
  const main = [
    `queue_directory = ${queueDir}`,
    'myhostname = mx.test.example',
    'transport_maps = inline:{example.com=testagent:}',
  ];
  fs.writeFileSync(path.join(configDir, 'main.cf'), main.join('\n') + '\n');
  const config = Config.load({ configDir });
  const qm = new QueueManager({
    queueDir,
    config,
    notifyBounce: async () => true,
  });
  const agent = new TestAgent(queueDir, 'testagent', decide);
  await agent.listen();
  LOG.length = 0;
  t.after(async () => {
    await qm.stop();
    await agent.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return { queueDir, config, qm, root };
}

// The agent moves the queue file aside before it answers: had qmgr
// opened the file again to mark the recipient, it would fail there.
test('does take a delivered answer as done without opening the queue file', async (t) => {
  let aside = '';
  const w = await setup(t, () => {
    const active = queuePath(w.queueDir, 'active', 'DLV001', w.config);
    aside = path.join(w.root, 'aside');
    fs.renameSync(active, aside);
    return DELIVER;
  });
  writeQueueFile(path.join(w.queueDir, 'incoming', 'DLV001'), {
    sender: 'alice@example.org',
    recipients: [{ address: 'a@example.com' }],
  });
  w.qm.trigger('I');
  await w.qm.whenIdle();
  assert.ok(fs.existsSync(aside), 'the agent ran');
  assert.deepEqual(
    LOG.filter((l) => l.startsWith('warning:')),
    [],
  );
  assert.equal(LOG.at(-1), 'DLV001: removed');
});
