// How the queue manager finishes a message: from the recipients it kept
// in memory when every one is known done (no second read of the file),
// and from the file when some are left. Real queue files, a real main.cf
// and a tiny real delivery agent on a Unix socket (qmgr_fixture.ts).

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../packages/config/config';
import { addLogSink, initLog } from '../packages/log/log';
import { makeQueueTree, queuePath } from '../packages/queue/mail_queue';
import { QueueManager } from '../services/qmgr/qmgr_manager';
import {
  DELIVER,
  TestAgent,
  writeQueueFile,
  type Decide,
  type FixtureRecipient,
} from '../services/qmgr/qmgr_fixture';

const LOG: string[] = [];
initLog({ processName: 'qmgr', sinks: [] });
addLogSink((line) => LOG.push(line.replace(/^.*?qmgr\[\d+\]: /, '')));

interface World {
  queueDir: string;
  config: Config;
  qm: QueueManager;
}

async function setup(
  t: { after: (fn: () => Promise<void> | void) => void },
  decide: Decide,
): Promise<World> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_finish_test-'));
  const queueDir = path.join(root, 'queue');
  const configDir = path.join(root, 'etc');
  makeQueueTree(queueDir);
  fs.mkdirSync(configDir);
  const main = [
    `queue_directory = ${queueDir}`,
    'myhostname = mx.test.example',
    'mydestination = localhost',
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
  return { queueDir, config, qm };
}

function incoming(w: World, id: string, recipients: FixtureRecipient[]) {
  const file = path.join(w.queueDir, 'incoming', id);
  writeQueueFile(file, { sender: 'alice@example.org', recipients });
  return file;
}

// A queue file without the owner-execute bit is not ready: whoever reads
// it again takes it for damaged.
function spoil(w: World, id: string): void {
  fs.chmodSync(queuePath(w.queueDir, 'active', id, w.config), 0o600);
}

const CASES = [
  {
    name: 'removes a message without reading its file again when every recipient is done',
    id: 'FIN001',
    recipients: ['a@example.com', 'b@example.com'],
    delayed: [] as string[],
    removed: true,
  },
  {
    name: 'reads the file again when a recipient is left for a later pass',
    id: 'FIN002',
    recipients: ['a@example.com', 'slow@example.com'],
    delayed: ['slow@example.com'],
    removed: false,
  },
];

for (const c of CASES) {
  test(`finish ${c.name}`, async (t) => {
    let w: World | undefined;
    w = await setup(t, (rcpt) => {
      spoil(w!, c.id);
      if (!c.delayed.includes(rcpt.recipient)) return DELIVER;
      return { action: 'delayed', status: '4.4.1', reason: 'try later' };
    });
    const file = incoming(
      w,
      c.id,
      c.recipients.map((address) => ({ address })),
    );
    w.qm.trigger('I');
    await w.qm.whenIdle();
    assert.equal(fs.existsSync(file), false);
    const active = queuePath(w.queueDir, 'active', c.id, w.config);
    if (c.removed) {
      assert.equal(fs.existsSync(active), false);
      assert.equal(LOG.at(-1), `${c.id}: removed`);
    } else {
      // The second read found the spoiled file: it stays in active/ for
      // the next start, as any file that cannot be finished.
      assert.equal(fs.existsSync(active), true);
      assert.ok(LOG.some((l) => l.includes(`${c.id}: finish: `)));
    }
  });
}
