// End-to-end tests of bounces: qmgr turns an agent's failed result into a
// non-delivery notice posted to a real cleanup peer (a tiny server on
// public/cleanup in this test), and keeps the message and its bounce log
// when cleanup is not there, sending the notice on the next pass.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../packages/config/config';
import { AttrStream } from '../packages/ipc/ipc';
import { addLogSink, initLog } from '../packages/log/log';
import { makeQueueTree, queuePath } from '../packages/queue/mail_queue';
import { readEnvelope } from '../packages/queue/queue_file';
import { appendStatus, readStatusLog } from '../packages/queue/status_log';
import type { Rec } from '../packages/queue/record';
import {
  BOUNCE_CMD,
  requestBounceFlush,
  serveBounce,
} from '../services/bounce/bounce_service';
import { QueueManager } from '../services/qmgr/qmgr_manager';
import {
  DELIVER,
  TestAgent,
  writeQueueFile,
} from '../services/qmgr/qmgr_fixture';

const LOG: string[] = [];
initLog({ processName: 'qmgr', sinks: [] });
addLogSink((line) => LOG.push(line.replace(/^.*?qmgr\[\d+\]: /, '')));

// A cleanup peer: greets with a queue ID, takes records up to E, says 0.
class TestCleanup {
  readonly messages: Rec[][] = [];
  readonly #server = net.createServer((s) => void this.#serve(s));
  #seq = 0;

  listen(queueDir: string): Promise<void> {
    const where = path.join(queueDir, 'public', 'cleanup');
    return new Promise((res) => this.#server.listen(where, res));
  }

  close(): Promise<void> {
    return new Promise((res) => this.#server.close(() => res()));
  }

  async #serve(socket: net.Socket): Promise<void> {
    const s = AttrStream.fromSocket(socket);
    s.writeAttrs({
      protocol: 'cleanup_protocol',
      queue_id: `NEW${++this.#seq}`,
    });
    await s.readAttrs();
    const recs: Rec[] = [];
    for (;;) {
      const rec = await s.readRecord();
      recs.push({ type: rec.type, data: Buffer.from(rec.data) });
      if (rec.type === 'E') break;
    }
    this.messages.push(recs);
    s.writeAttrs({ status: 0, reason: '' });
    s.close();
  }
}

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_bounce_test-'));
  const queueDir = path.join(root, 'queue');
  const configDir = path.join(root, 'etc');
  makeQueueTree(queueDir);
  fs.mkdirSync(configDir);
  fs.writeFileSync(
    path.join(configDir, 'transport'),
    'example.com testagent:\n',
  );
  fs.writeFileSync(
    path.join(configDir, 'main.cf'),
    [
      `queue_directory = ${queueDir}`,
      'myhostname = mx.test.example',
      'myorigin = test.example',
      'mydestination = localhost',
      `transport_maps = texthash:${configDir}/transport`,
    ].join('\n') + '\n',
  );
  const config = Config.load({ configDir });
  const qm = new QueueManager({ queueDir, config });
  const agent = new TestAgent(queueDir, 'testagent', (r) =>
    r.recipient.startsWith('bad')
      ? { action: 'failed', status: '5.1.1', reason: 'unknown user: "bad"' }
      : DELIVER,
  );
  await agent.listen();
  const cleanup = new TestCleanup();
  LOG.length = 0;
  t.after(async () => {
    await qm.stop();
    await agent.close();
    await cleanup.close().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });
  writeQueueFile(path.join(queueDir, 'incoming', 'BNC001'), {
    sender: 'alice@example.org',
    recipients: [
      { address: 'bad@example.com', dsnOrig: 'rfc822;bad@example.com' },
      { address: 'good@example.com' },
    ],
    lines: ['Subject: hello', 'Message-ID: <m1@example.org>', '', 'body'],
  });
  return { queueDir, config, qm, cleanup };
}

function text(recs: Rec[]): string {
  return recs
    .filter((r) => r.type === 'N' || r.type === 'L')
    .map((r) => r.data.toString() + (r.type === 'N' ? '\n' : ''))
    .join('');
}

test('sends a non-delivery notice from the null sender, then removes', async (t) => {
  const w = await setup(t);
  await w.cleanup.listen(w.queueDir);
  w.qm.trigger('I');
  await w.qm.whenIdle();
  assert.equal(w.cleanup.messages.length, 1);
  const recs = w.cleanup.messages[0];
  const envelope = recs
    .filter((r) => 'SR'.includes(r.type))
    .map((r) => [r.type, r.data.toString()]);
  assert.deepEqual(envelope, [
    ['S', ''],
    ['R', 'alice@example.org'],
  ]);
  const body = text(recs);
  assert.match(
    body,
    /^From: Mail Delivery System <MAILER-DAEMON@test\.example>$/m,
  );
  assert.match(body, /^Subject: Undelivered Mail Returned to Sender$/m);
  assert.match(body, /boundary="BNC001\.\d+\/mx\.test\.example"/);
  assert.match(body, /^This is the mail system at host mx\.test\.example\.$/m);
  assert.match(body, /^<bad@example\.com>: unknown user: "bad"$/m);
  assert.match(body, /^Reporting-MTA: dns; mx\.test\.example$/m);
  assert.match(body, /^X-Postfix-Queue-ID: BNC001$/m);
  assert.match(body, /^Final-Recipient: rfc822; bad@example\.com$/m);
  assert.match(body, /^Original-Recipient: rfc822;bad@example\.com$/m);
  assert.match(body, /^Status: 5\.1\.1$/m);
  assert.match(body, /^Content-Type: message\/rfc822$/m);
  assert.match(body, /^Message-ID: <m1@example\.org>$/m);
  assert.doesNotMatch(body, /good@example\.com/);
  const i = LOG.indexOf('BNC001: sender non-delivery notification: NEW1');
  assert.ok(i >= 0);
  assert.equal(LOG.indexOf('BNC001: removed'), LOG.length - 1);
});

test('keeps message and bounce log while cleanup is away, then sends', async (t) => {
  const w = await setup(t);
  w.qm.trigger('I');
  await w.qm.whenIdle();
  const deferred = queuePath(w.queueDir, 'deferred', 'BNC001', w.config);
  assert.ok(fs.existsSync(deferred), 'kept in deferred/');
  const kept = await readStatusLog(w.queueDir, 'bounce', 'BNC001', w.config);
  assert.deepEqual(
    kept.map((r) => r.recipient),
    ['bad@example.com'],
  );

  await w.cleanup.listen(w.queueDir);
  w.qm.trigger('AD');
  await w.qm.whenIdle();
  assert.equal(w.cleanup.messages.length, 1);
  assert.equal(fs.existsSync(deferred), false);
  assert.equal(LOG.at(-1), 'BNC001: removed');
});

test('asks the bounce service on private/bounce for the flush', async (t) => {
  const w = await setup(t);
  await w.cleanup.listen(w.queueDir);
  let served = 0;
  const bounce = net.createServer((s) => {
    served++;
    void serveBounce(s, w.queueDir, w.config);
  });
  const where = path.join(w.queueDir, 'private', 'bounce');
  await new Promise<void>((res) => bounce.listen(where, res));
  t.after(() => new Promise<void>((res) => bounce.close(() => res())));
  w.qm.trigger('I');
  await w.qm.whenIdle();
  assert.equal(served, 1);
  assert.equal(w.cleanup.messages.length, 1);
  assert.ok(LOG.includes('BNC001: sender non-delivery notification: NEW1'));
  assert.equal(LOG.at(-1), 'BNC001: removed');
});

test('answers status 1 to a bad bounce request without crashing', async (t) => {
  const w = await setup(t);
  const bounce = net.createServer(
    (s) => void serveBounce(s, w.queueDir, w.config),
  );
  const where = path.join(w.queueDir, 'private', 'bounce');
  await new Promise<void>((res) => bounce.listen(where, res));
  t.after(() => new Promise<void>((res) => bounce.close(() => res())));
  assert.equal(await requestBounceFlush(w.queueDir, 'active', '../etc'), false);
  assert.equal(await requestBounceFlush(w.queueDir, 'active', 'NOSUCH'), false);
  assert.ok(
    LOG.some((l) => l.startsWith('warning: serveBounce: bad queue name or ID')),
  );
});

test('has the bounce service send a delay warning from the defer log', async (t) => {
  const w = await setup(t);
  await w.cleanup.listen(w.queueDir);
  const bounce = net.createServer(
    (s) => void serveBounce(s, w.queueDir, w.config),
  );
  await new Promise<void>((res) =>
    bounce.listen(path.join(w.queueDir, 'private', 'bounce'), res),
  );
  t.after(() => new Promise<void>((res) => bounce.close(() => res())));
  const file = path.join(w.queueDir, 'active', 'WRN001');
  writeQueueFile(file, {
    sender: 'alice@example.org',
    recipients: [{ address: 'slow@example.com' }],
    lines: ['Subject: waiting', '', 'body'],
  });
  const rec = {
    recipient: 'slow@example.com',
    offset: 0,
    status: '4.4.1',
    action: 'delayed',
    reason: 'connection refused',
  };
  const env = await readEnvelope(file);
  rec.offset = env.recipients[0].offset;
  await appendStatus(w.queueDir, 'defer', 'WRN001', rec, w.config);
  assert.equal(
    await requestBounceFlush(w.queueDir, 'active', 'WRN001', BOUNCE_CMD.WARN),
    true,
  );
  const body = text(w.cleanup.messages[0]);
  assert.match(body, /^Subject: Delayed Mail \(still being retried\)$/m);
  assert.match(body, /^Action: delayed$/m);
  assert.ok(LOG.includes('WRN001: sender delay notification: NEW1'));
});
