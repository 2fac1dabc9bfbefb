// The queue manager under SIGKILL: a real qmgr process is killed twice
// while a real agent (in this test process, so it survives as agents
// do) delivers; after the last restart every recipient has been
// delivered exactly once and the queue is empty. Also the lock probe.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as child from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../packages/config/config';
import { makeQueueTree } from '../packages/queue/mail_queue';
import { lockQueueFileShared } from '../packages/queue/queue_file';
import { QueueManager } from '../services/qmgr/qmgr_manager';
import {
  DELIVER,
  TestAgent,
  writeQueueFile,
} from '../services/qmgr/qmgr_fixture';

const DIST = path.join(__dirname, '..');

// The child: a QueueManager as qmgr.ts runs it, with A and I triggers
// every 200 ms standing in for cleanup's and master's wakeups.
const CHILD = `
const { Config } = require(${JSON.stringify(DIST + '/packages/config/config')});
const { initLog } = require(${JSON.stringify(DIST + '/packages/log/log')});
const { QueueManager } = require(${JSON.stringify(DIST + '/services/qmgr/qmgr_manager')});
initLog({ processName: 'qmgr', sinks: [(l) => process.stdout.write(l + '\\n')] });
const config = Config.load({ configDir: process.env.MAIL_CONFIG });
const qm = new QueueManager({ queueDir: config.get('queue_directory'), config });
qm.start();
setInterval(() => qm.trigger('AI'), 200);
`;

function makeWorld(t: { after: (fn: () => void) => void }, extra: string[]) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_crash_test-'));
  const queueDir = path.join(root, 'queue');
  const configDir = path.join(root, 'etc');
  makeQueueTree(queueDir);
  fs.mkdirSync(configDir);
  fs.writeFileSync(
    path.join(configDir, 'transport'),
    'example.com testagent:\n',
  );
  const main = [
    `queue_directory = ${queueDir}`,
    'mydestination = localhost',
    `transport_maps = texthash:${configDir}/transport`,
    ...extra,
  ];
  fs.writeFileSync(path.join(configDir, 'main.cf'), main.join('\n') + '\n');
  // Two agents at a time, so that kills land while deliveries run.
  const master = 'testagent unix - - n - 2 local\n';
  fs.writeFileSync(path.join(configDir, 'master.cf'), master);
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  return { queueDir, configDir };
}

// The children's log lines, shown when an assertion fails.
let childLog = '';

function startQmgr(configDir: string): child.ChildProcess {
  const proc = child.spawn(process.execPath, ['-e', CHILD], {
    env: { ...process.env, MAIL_CONFIG: configDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  proc.stdout?.on('data', (chunk: Buffer) => (childLog += chunk));
  return proc;
}

async function waitFor(what: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!what()) {
    if (Date.now() > until) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function kill(proc: child.ChildProcess, signal: NodeJS.Signals) {
  return new Promise<void>((res) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return res();
    proc.once('exit', () => res());
    proc.kill(signal);
  });
}

// Files only, listed without a stat: qmgr removes files meanwhile.
function queueEmpty(queueDir: string): boolean {
  const files = (q: string) =>
    fs
      .readdirSync(path.join(queueDir, q), {
        recursive: true,
        withFileTypes: true,
      })
      .filter((ent) => ent.isFile());
  return ['incoming', 'active', 'deferred'].every((q) => !files(q).length);
}

test('delivers every recipient once when qmgr is killed mid-delivery', async (t) => {
  const { queueDir, configDir } = makeWorld(t, [
    'testagent_destination_recipient_limit = 1',
    'testagent_destination_concurrency_limit = 4',
  ]);
  const agent = new TestAgent(queueDir, 'testagent', () => DELIVER);
  agent.delayMs = 1500;
  await agent.listen();
  let proc: child.ChildProcess | undefined;
  t.after(async () => {
    if (proc) await kill(proc, 'SIGKILL');
    await agent.close();
  });
  const want: string[] = [];
  for (let m = 0; m < 3; m++) {
    const recipients = [0, 1].map((r) => ({
      address: `m${m}r${r}@example.com`,
    }));
    want.push(...recipients.map((r) => r.address));
    writeQueueFile(path.join(queueDir, 'incoming', `MSG${m}`), {
      sender: 'alice@example.org',
      recipients,
    });
  }
  for (const killAt of [1, 3]) {
    proc = startQmgr(configDir);
    await waitFor(() => agent.delivered.length >= killAt);
    await kill(proc, 'SIGKILL');
  }
  proc = startQmgr(configDir);
  await waitFor(() => queueEmpty(queueDir) && agent.busy === 0);
  await kill(proc, 'SIGTERM');
  assert.deepEqual([...agent.delivered].sort(), want.sort(), childLog);
});

test('leaves a file for later while an agent holds its lock', async (t) => {
  const { queueDir, configDir } = makeWorld(t, []);
  const agent = new TestAgent(queueDir, 'testagent', () => DELIVER);
  await agent.listen();
  const config = Config.load({ configDir });
  const qm = new QueueManager({ queueDir, config });
  t.after(async () => {
    await qm.stop();
    await agent.close();
  });
  const file = path.join(queueDir, 'incoming', 'LOCKED1');
  writeQueueFile(file, {
    sender: 'alice@example.org',
    recipients: [{ address: 'bob@example.com' }],
  });
  const fh = await fs.promises.open(file, 'r');
  await lockQueueFileShared(fh.fd);
  qm.trigger('I');
  await qm.whenIdle();
  assert.equal(agent.requests.length, 0);
  assert.ok(fs.statSync(file).mtimeMs > Date.now() + 50_000, 'cooling down');
  await fh.close();
  qm.trigger('AI');
  await qm.whenIdle();
  assert.deepEqual(agent.delivered, ['bob@example.com']);
});
