// End-to-end tests of the queue manager on a real queue directory: real
// queue files, real main.cf and transport table (texthash:) through
// resolveAddress, and tiny real delivery agents on private/<transport>
// Unix sockets. Each test checks the files left behind and the log lines.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../packages/config/config';
import { addLogSink, initLog } from '../packages/log/log';
import { makeQueueTree, queuePath } from '../packages/queue/mail_queue';
import { readEnvelope } from '../packages/queue/queue_file';
import { readStatusLog } from '../packages/queue/status_log';
import type { StatusRecord } from '../packages/queue/status_log';
import { QueueManager } from '../services/qmgr/qmgr_manager';
import {
  DELIVER,
  TestAgent,
  writeQueueFile,
  type Decide,
  type FixtureSpec,
} from '../services/qmgr/qmgr_fixture';

const LOG: string[] = [];
initLog({ processName: 'qmgr', sinks: [] });
addLogSink((line) => LOG.push(line.replace(/^.*?qmgr\[\d+\]: /, '')));

interface World {
  queueDir: string;
  configDir: string;
  config: Config;
  bounces: Array<{ id: string; records: StatusRecord[] }>;
  qm: QueueManager;
  agents: TestAgent[];
}

const TRANSPORT_TABLE = [
  'example.com testagent:',
  'other.example testagent:',
  'nowhere.example missing:',
  'limited.example limited:',
].join('\n');

async function setup(
  t: { after: (fn: () => Promise<void> | void) => void },
  mainCf: string[] = [],
  masterCf?: string,
): Promise<World> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_flow_test-'));
  const queueDir = path.join(root, 'queue');
  const configDir = path.join(root, 'etc');
  makeQueueTree(queueDir);
  fs.mkdirSync(configDir);
  fs.writeFileSync(path.join(configDir, 'transport'), TRANSPORT_TABLE + '\n');
  const main = [
    `queue_directory = ${queueDir}`,
    'myhostname = mx.test.example',
    'mydestination = localhost',
    `transport_maps = texthash:${configDir}/transport`,
    ...mainCf,
  ];
  fs.writeFileSync(path.join(configDir, 'main.cf'), main.join('\n') + '\n');
  if (masterCf) fs.writeFileSync(path.join(configDir, 'master.cf'), masterCf);
  const config = Config.load({ configDir });
  const bounces: World['bounces'] = [];
  const qm = new QueueManager({
    queueDir,
    config,
    notifyBounce: async (_ctx, message, records) => {
      bounces.push({ id: message.id, records });
      return true;
    },
  });
  const world: World = { queueDir, configDir, config, bounces, qm, agents: [] };
  LOG.length = 0;
  t.after(async () => {
    await qm.stop();
    for (const a of world.agents) await a.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return world;
}

async function agent(w: World, transport: string, decide: Decide) {
  const a = new TestAgent(w.queueDir, transport, decide);
  await a.listen();
  w.agents.push(a);
  return a;
}

function incoming(w: World, id: string, spec: Partial<FixtureSpec>): string {
  const file = path.join(w.queueDir, 'incoming', id);
  writeQueueFile(file, {
    sender: 'alice@example.org',
    recipients: [{ address: 'bob@example.com' }],
    ...spec,
  });
  return file;
}

async function run(w: World, bytes = 'I'): Promise<void> {
  w.qm.trigger(bytes);
  await w.qm.whenIdle();
}

function deferredPath(w: World, id: string): string {
  return queuePath(w.queueDir, 'deferred', id, w.config);
}

test('delivers a message from incoming and removes it when I arrives', async (t) => {
  const w = await setup(t);
  const a = await agent(w, 'testagent', () => DELIVER);
  const file = incoming(w, 'AAA001', {});
  await run(w);
  assert.deepEqual(a.delivered, ['bob@example.com']);
  assert.equal(a.requests[0].nexthop, 'example.com');
  assert.equal(a.requests[0].sender, 'alice@example.org');
  assert.equal(fs.existsSync(file), false);
  assert.deepEqual(fs.readdirSync(path.join(w.queueDir, 'active')), []);
  assert.match(
    LOG[0],
    /^AAA001: from=<alice@example\.org>, size=\d+, nrcpt=1 \(queue active\)$/,
  );
  assert.equal(LOG.at(-1), 'AAA001: removed');
});

test('bounces a failed recipient: bounce log, done mark, notice, removed', async (t) => {
  const w = await setup(t);
  await agent(w, 'testagent', (r) =>
    r.recipient.startsWith('bad')
      ? { action: 'failed', status: '5.1.1', reason: 'unknown user: "bad"' }
      : DELIVER,
  );
  const file = incoming(w, 'AAA002', {
    recipients: [
      { address: 'bad@example.com' },
      { address: 'good@example.com' },
    ],
  });
  await run(w);
  assert.equal(fs.existsSync(file), false);
  assert.equal(w.bounces.length, 1);
  assert.deepEqual(
    w.bounces[0].records.map((r) => [r.recipient, r.status, r.action]),
    [['bad@example.com', '5.1.1', 'failed']],
  );
  assert.equal(LOG.at(-1), 'AAA002: removed');
});

test('defers a delayed recipient to hashed deferred/ with backoff time', async (t) => {
  const w = await setup(t, ['minimal_backoff_time = 300s']);
  const a = await agent(w, 'testagent', (r) =>
    r.recipient.startsWith('slow')
      ? { action: 'delayed', status: '4.4.1', reason: 'connection refused' }
      : DELIVER,
  );
  incoming(w, 'AAA003', {
    recipients: [
      { address: 'slow@example.com' },
      { address: 'fast@example.com' },
    ],
  });
  const before = Date.now() / 1000;
  await run(w);
  const where = deferredPath(w, 'AAA003');
  assert.match(where, /deferred\/A\/AAA003$/);
  const st = fs.statSync(where);
  assert.ok(st.mtimeMs / 1000 >= before + 299, 'mtime is now + 300s');
  const env = await readEnvelope(where);
  assert.deepEqual(
    env.recipients.map((r) => r.recipient),
    ['slow@example.com'],
  );
  const defer = await readStatusLog(w.queueDir, 'defer', 'AAA003', w.config);
  assert.deepEqual(
    defer.map((r) => r.reason),
    ['connection refused'],
  );

  // D alone leaves a cooling file alone; A then D takes it again.
  await run(w, 'D');
  assert.equal(a.requests.length, 1);
  await run(w, 'AD');
  assert.equal(a.requests.length, 2);
  assert.deepEqual(
    a.requests[1].recipients.map((r) => r.recipient),
    ['slow@example.com'],
  );
});

test('defers with mail transport unavailable when the agent is missing', async (t) => {
  const w = await setup(t);
  incoming(w, 'AAA004', { recipients: [{ address: 'x@nowhere.example' }] });
  await run(w);
  assert.ok(fs.existsSync(deferredPath(w, 'AAA004')));
  const line = LOG.find((l) => l.startsWith('AAA004: to=<x@nowhere.example>'));
  assert.match(
    line ?? '',
    /^AAA004: to=<x@nowhere\.example>, relay=none, delay=[\d.]+, delays=[\d.]+\/[\d.]+\/0\/0, dsn=4\.3\.0, status=deferred \(mail transport unavailable\)$/,
  );
  assert.ok(
    LOG.some((l) =>
      l.startsWith('warning: connect to transport private/missing'),
    ),
  );
});

test('returns expired mail to the sender when the lifetime is over', async (t) => {
  const w = await setup(t, ['maximal_queue_lifetime = 0']);
  await agent(w, 'testagent', () => ({
    action: 'delayed',
    status: '4.4.1',
    reason: 'connect to mx.example.com[192.0.2.1]:25: Connection refused',
  }));
  const file = incoming(w, 'AAA005', {});
  await run(w);
  assert.equal(fs.existsSync(file), false);
  assert.equal(fs.existsSync(deferredPath(w, 'AAA005')), false);
  assert.ok(
    LOG.includes(
      'AAA005: from=<alice@example.org>, status=expired, returned to sender',
    ),
  );
  assert.deepEqual(
    w.bounces[0].records.map((r) => [r.status, r.action, r.reason]),
    [
      [
        '5.4.1',
        'failed',
        'connect to mx.example.com[192.0.2.1]:25: Connection refused',
      ],
    ],
  );
  assert.equal(LOG.at(-1), 'AAA005: removed');
});

test('moves active files back on start and never resends a done recipient', async (t) => {
  const w = await setup(t);
  const a = await agent(w, 'testagent', () => DELIVER);
  const fixture = path.join(
    __dirname,
    '../../test/fixtures/postfix_deferred_1done',
  );
  const file = path.join(w.queueDir, 'active', '62F42160384');
  fs.copyFileSync(fixture, file);
  fs.chmodSync(file, 0o700);
  fs.writeFileSync(
    path.join(w.configDir, 'transport'),
    '[127.0.0.2] testagent:\n',
  );
  const w2 = {
    ...w,
    qm: new QueueManager({
      queueDir: w.queueDir,
      config: Config.load({ configDir: w.configDir }),
    }),
  };
  t.after(() => w2.qm.stop());
  await w2.qm.start();
  await w2.qm.whenIdle();
  assert.deepEqual(a.delivered, ['dave@[127.0.0.2]']);
  assert.equal(fs.existsSync(file), false);
  assert.ok(LOG.includes('62F42160384: removed'));
});

test('saves a corrupt file to corrupt/ with a warning', async (t) => {
  const w = await setup(t);
  incoming(w, 'AAA007', { omitEnd: true });
  await run(w);
  assert.ok(fs.existsSync(path.join(w.queueDir, 'corrupt', 'AAA007')));
  assert.ok(
    LOG.includes(
      'warning: saving corrupt file "AAA007" from queue "active" to queue "corrupt"',
    ),
  );
});

test('skips incoming files whose time stamp is in the future', async (t) => {
  const w = await setup(t);
  const a = await agent(w, 'testagent', () => DELIVER);
  const file = incoming(w, 'AAA008', {});
  const later = Date.now() / 1000 + 3600;
  fs.utimesSync(file, later, later);
  await run(w);
  assert.equal(a.requests.length, 0);
  assert.ok(fs.existsSync(file));
});

test('cuts requests at the recipient limit and groups per destination', async (t) => {
  const w = await setup(t, ['testagent_destination_recipient_limit = 2']);
  const a = await agent(w, 'testagent', () => DELIVER);
  incoming(w, 'AAA009', {
    recipients: ['a', 'b', 'c', 'd', 'e']
      .map((u) => ({ address: `${u}@example.com` }))
      .concat([{ address: 'z@other.example' }]),
  });
  await run(w);
  const shape = a.requests
    .map((r) => `${r.nexthop}:${r.recipients.length}`)
    .sort();
  assert.deepEqual(shape, [
    'example.com:1',
    'example.com:2',
    'example.com:2',
    'other.example:1',
  ]);
});

test('keeps to the destination concurrency limit and master.cf maxproc', async (t) => {
  const master = 'limited unix - - n - 3 local\n';
  const w = await setup(
    t,
    [
      'limited_destination_recipient_limit = 1',
      'limited_destination_concurrency_limit = 10',
    ],
    master,
  );
  const a = await agent(w, 'limited', () => DELIVER);
  a.delayMs = 100;
  incoming(w, 'AAA010', {
    recipients: Array.from({ length: 8 }, (_, i) => ({
      address: `u${i}@limited.example`,
    })),
  });
  await run(w);
  assert.equal(a.delivered.length, 8);
  assert.equal(a.maxBusy, 3);
});

test('throttles a destination the agent reports as failed', async (t) => {
  const w = await setup(t, [
    'testagent_destination_recipient_limit = 2',
    'testagent_destination_concurrency_limit = 1',
    'testagent_destination_concurrency_failed_cohort_limit = 0',
  ]);
  const a = await agent(w, 'testagent', () => ({
    action: 'delayed',
    status: '4.4.1',
    reason: 'connect to mx.example.com[192.0.2.1]:25: Connection refused',
  }));
  a.siteFailure = {
    status: '4.4.1',
    reason: 'connect to mx.example.com[192.0.2.1]:25: Connection refused',
  };
  incoming(w, 'AAA011', {
    recipients: ['a', 'b', 'c'].map((u) => ({ address: `${u}@example.com` })),
  });
  await run(w);
  assert.equal(a.requests.length, 1, 'later recipients are not tried');
  assert.ok(
    LOG.some((l) =>
      /status=deferred \(delivery temporarily suspended: connect to mx/.test(l),
    ),
  );
});

test('forgets a dead destination when F arrives', async (t) => {
  const w = await setup(t, [
    'testagent_destination_recipient_limit = 1',
    'testagent_destination_concurrency_failed_cohort_limit = 0',
  ]);
  const a = await agent(w, 'testagent', () => ({
    action: 'delayed',
    status: '4.4.1',
    reason: 'connect to mx.example.com[192.0.2.1]:25: Connection refused',
  }));
  a.siteFailure = { status: '4.4.1', reason: 'connect refused' };
  incoming(w, 'AAA012', { recipients: [{ address: 'bob@example.com' }] });
  await run(w);
  assert.equal(a.requests.length, 1);
  incoming(w, 'AAA013', { recipients: [{ address: 'bob@example.com' }] });
  await run(w);
  assert.equal(a.requests.length, 1, 'dead: deferred without a try');
  a.siteFailure = undefined;
  await run(w, 'FAD');
  assert.equal(a.requests.length, 3, 'both tried again after F');
});

test('scans deferred/ every queue_run_delay without a trigger', async (t) => {
  const w = await setup(t, ['queue_run_delay = 1s']);
  const a = await agent(w, 'testagent', () => DELIVER);
  const file = deferredPath(w, 'AAA014');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeQueueFile(file, {
    sender: 'alice@example.org',
    recipients: [{ address: 'bob@example.com' }],
  });
  // Cooling for 1.5 s: the scan at start leaves it, a timed one takes it.
  const soon = Date.now() / 1000 + 1.5;
  fs.utimesSync(file, soon, soon);
  await w.qm.start();
  await w.qm.whenIdle();
  assert.equal(a.requests.length, 0);
  const until = Date.now() + 10_000;
  while (a.delivered.length === 0 && Date.now() < until)
    await new Promise((r) => setTimeout(r, 100));
  await w.qm.whenIdle();
  assert.deepEqual(a.delivered, ['bob@example.com']);
  assert.equal(fs.existsSync(file), false);
});

test('discards mail to the local double-bounce address with a warning', async (t) => {
  const w = await setup(t, ['mydestination = $myhostname']);
  const a = await agent(w, 'testagent', () => DELIVER);
  const file = incoming(w, 'AAA015', {
    sender: '',
    recipients: [{ address: 'double-bounce@mx.test.example' }],
  });
  await run(w);
  assert.equal(a.requests.length, 0);
  assert.equal(fs.existsSync(file), false);
  assert.ok(
    LOG.includes(
      'warning: AAA015: undeliverable postmaster notification discarded',
    ),
  );
  assert.equal(LOG.at(-1), 'AAA015: removed');
});

test('expires mail from the null sender by bounce_queue_lifetime', async (t) => {
  const w = await setup(t, ['bounce_queue_lifetime = 0']);
  await agent(w, 'testagent', () => ({
    action: 'delayed',
    status: '4.4.1',
    reason: 'connection refused',
  }));
  incoming(w, 'AAA016', { sender: '' });
  incoming(w, 'AAA017', {});
  await run(w, 'W');
  assert.ok(
    LOG.includes('AAA016: from=<>, status=expired, returned to sender'),
  );
  assert.ok(
    !LOG.some((l) =>
      l.startsWith('AAA017: from=<alice@example.org>, status=expired'),
    ),
  );
  assert.ok(fs.existsSync(deferredPath(w, 'AAA017')));
});

test('defers recipients when the agent answers nonsense, and goes on', async (t) => {
  const w = await setup(t);
  const where = path.join(w.queueDir, 'private', 'testagent');
  const server = net.createServer((s) => {
    s.write('protocol\0delivery_protocol\0\0');
    s.once('data', () => s.end('offset\x001\0status\0x.y\0action\0won\0\0'));
  });
  await new Promise<void>((res) => server.listen(where, res));
  t.after(() => new Promise<void>((res) => server.close(() => res())));
  incoming(w, 'AAA018', {});
  await run(w);
  assert.ok(fs.existsSync(deferredPath(w, 'AAA018')));
  assert.ok(
    LOG.some((l) =>
      /^warning: AAA018: deliverJob: bad action in result: won$/.test(l),
    ),
  );
  assert.ok(
    LOG.some((l) =>
      /^AAA018: to=<bob@example\.com>, .*status=deferred \(unknown mail transport error\)$/.test(
        l,
      ),
    ),
  );
});

test('returns force-expired mail (group execute bit) without a try', async (t) => {
  const w = await setup(t);
  const a = await agent(w, 'testagent', () => DELIVER);
  const file = incoming(w, 'AAA019', { mode: 0o710 });
  await run(w);
  assert.equal(a.requests.length, 0);
  assert.equal(fs.existsSync(file), false);
  assert.ok(
    LOG.includes(
      'AAA019: from=<alice@example.org>, status=force-expired, returned to sender',
    ),
  );
  assert.deepEqual(
    w.bounces[0].records.map((r) => [r.status, r.reason]),
    [['5.7.0', 'message is administratively expired']],
  );
  assert.equal(LOG.at(-1), 'AAA019: removed');
});

test('sends one delay warning once the W record time has passed', async (t) => {
  const w = await setup(t);
  const warned: string[][] = [];
  const qm = new QueueManager({
    queueDir: w.queueDir,
    config: w.config,
    notifyBounce: async () => true,
    notifyDelay: async (_ctx, _m, records) => {
      warned.push(records.map((r) => `${r.recipient} ${r.status} ${r.reason}`));
      return true;
    },
  });
  t.after(() => qm.stop());
  await agent(w, 'testagent', () => ({
    action: 'delayed',
    status: '4.4.1',
    reason: 'connection refused',
  }));
  incoming(w, 'AAA020', { warnTime: Date.now() / 1000 - 1 });
  qm.trigger('I');
  await qm.whenIdle();
  assert.deepEqual(warned, [['bob@example.com 4.4.1 connection refused']]);
  const env = await readEnvelope(deferredPath(w, 'AAA020'));
  assert.equal(env.warnTime, 0);
  qm.trigger('AD');
  await qm.whenIdle();
  assert.equal(warned.length, 1, 'only one warning');
});
