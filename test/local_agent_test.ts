// The local delivery agent as master runs it: a real process on
// private/local, real queue files from packages/queue/record.ts, qmgr's
// side of the delivery protocol, and the real cleanup daemon for
// forwarded mail. Checks Maildirs, D marks, results and log lines.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../packages/config/config';
import { deliverRequest } from '../packages/queue/delivery';
import { CleanupClient } from '../packages/ipc/cleanup_client';
import { connectService } from '../packages/ipc/ipc';
import { makeQueueTree } from '../packages/queue/mail_queue';
import { readEnvelope } from '../packages/queue/queue_file';
import { REC } from '../packages/queue/record';
import {
  maildirMessages,
  testRequest,
  writeQueueFile,
  type TestMessage,
} from '../services/local/local_testkit';
import { getpwnam } from '../services/local/local_user';
import { NOT_REACHABLE, othersCanRun } from './harness';

const DIST = path.join(__dirname, '..', 'services');

interface Instance {
  top: string;
  queueDir: string;
  configDir: string;
  log: string[];
  children: ChildProcess[];
  servers: net.Server[];
}

function makeInstance(extra: string[] = []): Instance {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'local-agent-'));
  const queueDir = path.join(top, 'queue');
  const configDir = path.join(top, 'etc');
  fs.mkdirSync(configDir);
  fs.mkdirSync(path.join(top, 'mail'));
  // As root, names without a passwd entry are delivered with
  // mail_owner's rights: the spool must be theirs.
  const owner = process.getuid?.() === 0 ? getpwnam('postfix') : undefined;
  if (owner) {
    fs.chmodSync(top, 0o755);
    fs.chownSync(path.join(top, 'mail'), owner.uid, owner.gid);
  }
  fs.writeFileSync(
    path.join(top, 'aliases'),
    'team: tbob, tcarol\nfar: friend@example.org\n',
  );
  const mainCf = [
    `queue_directory = ${queueDir}`,
    'myhostname = localhost',
    'mydomain = localdomain',
    'myorigin = localhost',
    'mydestination = localhost',
    'append_dot_mydomain = no',
    `mail_spool_directory = ${top}/mail/`,
    `alias_maps = texthash:${top}/aliases`,
    'local_delivery_without_passwd = yes',
    'recipient_delimiter = +',
    ...extra,
  ];
  fs.writeFileSync(path.join(configDir, 'main.cf'), mainCf.join('\n') + '\n');
  makeQueueTree(queueDir);
  return { top, queueDir, configDir, log: [], children: [], servers: [] };
}

// What master does for one unix service: own the socket, start the
// child, hand it each client.
function startService(
  inst: Instance,
  name: string,
  klass: 'public' | 'private',
  ids: { uid?: number; gid?: number } = {},
): Promise<void> {
  const child = fork(path.join(DIST, name, `${name}.js`), ['-n', name], {
    env: { ...process.env, MAIL_CONFIG: inst.configDir },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...ids,
  });
  inst.children.push(child);
  // The skeleton sends the lines of one event-loop turn together.
  child.on('message', (m: { t: string; line?: string; lines?: string[] }) => {
    if (m.t === 'log') inst.log.push(...(m.lines ?? (m.line ? [m.line] : [])));
  });
  const server = net.createServer({ pauseOnConnect: true });
  inst.servers.push(server);
  server.on('connection', (socket) => child.send({ t: 'conn' }, socket));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
    child.on('message', (m: { t: string }) => {
      if (m.t === 'status') resolve();
    });
    server.listen(path.join(inst.queueDir, klass, name));
  });
}

async function stopInstance(inst: Instance): Promise<void> {
  for (const child of inst.children) {
    if (child.exitCode !== null) continue;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }
  for (const server of inst.servers) server.close();
  fs.rmSync(inst.top, { recursive: true, force: true });
}

function queueFile(inst: Instance, m: TestMessage) {
  const q = writeQueueFile(path.join(inst.queueDir, 'active'), m);
  const id = `4F9D62A1F${inst.children.length}`;
  const file = path.join(inst.queueDir, 'active', id);
  fs.renameSync(q.file, file);
  return { q: { ...q, file }, req: testRequest({ ...q, file }, m, id) };
}

function typeAt(file: string, offset: number): string {
  return String.fromCharCode(fs.readFileSync(file)[offset]);
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), what);
}

test('does deliver over private/local, mark D, answer and log', async () => {
  const inst = makeInstance();
  try {
    await startService(inst, 'local', 'private');
    const m = {
      recipients: [
        { recipient: 'tbob@localhost', original: 'tbob' },
        { recipient: 'team@localhost' },
      ],
    };
    const { q, req } = queueFile(inst, m);
    const results = await deliverRequest(inst.queueDir, 'local', req);
    assert.deepEqual(
      results.map((r) => [r.offset, r.status, r.action, r.reason]),
      [
        [q.offsets[0], '2.0.0', 'delivered', 'delivered to maildir'],
        [q.offsets[1], '2.0.0', 'delivered', 'delivered to maildir'],
      ],
    );
    assert.equal(typeAt(q.file, q.offsets[0]), REC.DONE);
    assert.equal(typeAt(q.file, q.offsets[1]), REC.DONE);
    // team expands to tbob too: one copy per mailbox and request.
    assert.equal(maildirMessages(`${inst.top}/mail/tbob`).length, 1);
    assert.equal(maildirMessages(`${inst.top}/mail/tcarol`).length, 1);
    const text = maildirMessages(`${inst.top}/mail/tcarol`)[0];
    assert.ok(
      text.startsWith(
        'Return-Path: <alice@example.com>\n' +
          'X-Original-To: team@localhost\nDelivered-To: team@localhost\n',
      ),
    );
    await until(() => inst.log.length >= 2, 'two log lines');
    const line = inst.log.find((l) => l.includes('orig_to=<tbob>'))!;
    assert.match(
      line,
      new RegExp(
        `postfix/local\\[\\d+\\]: ${req.queueId}: to=<tbob@localhost>, ` +
          'orig_to=<tbob>, relay=local, delay=[\\d.]+, ' +
          'delays=[\\d.]+/[\\d.]+/0/[\\d.]+, dsn=2\\.0\\.0, ' +
          'status=sent \\(delivered to maildir\\)$',
      ),
    );
    assert.ok(
      inst.log.some((l) =>
        l.includes('to=<tcarol@localhost>, orig_to=<team@localhost>'),
      ),
    );
  } finally {
    await stopInstance(inst);
  }
});

test('does answer failed and keep R when the recipient bounces', async () => {
  const inst = makeInstance(['local_delivery_without_passwd = no']);
  try {
    await startService(inst, 'local', 'private');
    const { q, req } = queueFile(inst, {
      recipients: [{ recipient: 'tnobody@localhost' }],
    });
    const [r] = await deliverRequest(inst.queueDir, 'local', req);
    assert.deepEqual(
      [r.status, r.action, r.reason],
      ['5.1.1', 'failed', 'unknown user: "tnobody"'],
    );
    assert.equal(typeAt(q.file, q.offsets[0]), REC.RCPT);
  } finally {
    await stopInstance(inst);
  }
});

test('does defer everything when the queue file is missing', async () => {
  const inst = makeInstance();
  try {
    await startService(inst, 'local', 'private');
    const { q, req } = queueFile(inst, {});
    fs.unlinkSync(q.file);
    const [r] = await deliverRequest(inst.queueDir, 'local', req);
    assert.deepEqual([r.status, r.action], ['4.3.0', 'delayed']);
  } finally {
    await stopInstance(inst);
  }
});

test('does resubmit mail for a remote alias through cleanup', async () => {
  const inst = makeInstance();
  try {
    await startService(inst, 'cleanup', 'public');
    await startService(inst, 'local', 'private');
    const { q, req } = queueFile(inst, {
      recipients: [{ recipient: 'far@localhost' }],
    });
    const [r] = await deliverRequest(inst.queueDir, 'local', req);
    assert.equal(r.action, 'delivered');
    const id = /^forwarded as ([0-9A-Za-z]+)$/.exec(r.reason)![1];
    assert.equal(typeAt(q.file, q.offsets[0]), REC.DONE);
    const incoming = fs.readdirSync(path.join(inst.queueDir, 'incoming'), {
      recursive: true,
    }) as string[];
    const found = incoming.find((f) => path.basename(f) === id);
    assert.ok(found, `${id} in incoming/`);
    const data = fs.readFileSync(path.join(inst.queueDir, 'incoming', found));
    assert.ok(data.includes('friend@example.org'));
    assert.ok(data.includes('Delivered-To: far@localhost'));
  } finally {
    await stopInstance(inst);
  }
});

// Submit through the real cleanup, then move the file to active/ as qmgr
// does and ask local for it: our reader must take cleanup's records.
async function viaCleanup(inst: Instance, rcpt: string, lines: string[]) {
  const client = await CleanupClient.open(inst.queueDir, 0);
  await client.records([
    [REC.TIME, `${Math.floor(Date.now() / 1000)} 0`],
    [REC.ATTR, 'rewrite_context=local'],
    [REC.SENDER, 'alice@example.com'],
    [REC.ORCP, rcpt],
    [REC.RCPT, rcpt],
    [REC.MESG, ''],
    ...lines.map((l): [string, string] => [REC.NORM, l]),
    [REC.XTRA, ''],
  ]);
  const result = await client.finish(true);
  assert.equal(result.status, 0, result.reason);
  const incoming = path.join(inst.queueDir, 'incoming');
  const name = (fs.readdirSync(incoming, { recursive: true }) as string[]).find(
    (f) => path.basename(f) === client.queueId,
  )!;
  const active = path.join(inst.queueDir, 'active', client.queueId);
  fs.renameSync(path.join(incoming, name), active);
  const env = await readEnvelope(active);
  const now = Date.now() / 1000;
  return {
    env,
    req: {
      ...testRequest(
        { file: active, dataOffset: env.dataOffset, offsets: [] },
        {},
        env.queueId,
      ),
      arrivalTime: env.arrivalTime,
      activeArrival: now,
      agentHandoff: now,
      recipients: env.recipients.map((r) => ({
        originalRecipient: r.originalRecipient,
        recipient: r.recipient,
        offset: r.offset,
        dsnOrigRcpt: r.dsnOrigRcpt,
        notifyFlags: r.notifyFlags,
      })),
    },
  };
}

test('does deliver a queue file that the real cleanup wrote', async () => {
  const inst = makeInstance();
  try {
    await startService(inst, 'cleanup', 'public');
    await startService(inst, 'local', 'private');
    const lines = [
      'Subject: via cleanup',
      '',
      'From here on',
      'x'.repeat(5000),
    ];
    const { env, req } = await viaCleanup(inst, 'tdave@localhost', lines);
    const [r] = await deliverRequest(inst.queueDir, 'local', req);
    assert.equal(r.reason, 'delivered to maildir');
    assert.equal(typeAt(env.path, env.recipients[0].offset), REC.DONE);
    const text = maildirMessages(`${inst.top}/mail/tdave`)[0];
    assert.ok(text.includes('\nSubject: via cleanup\n'));
    assert.ok(text.includes('\n\nFrom here on\n'));
    assert.ok(text.includes('x'.repeat(5000)));
  } finally {
    await stopInstance(inst);
  }
});

// The embedded default: an ordinary user runs the instance, and every
// name, even one in passwd such as root, gets a Maildir in the spool.
test(
  'does deliver root@localhost to the spool as the agent user when unprivileged',
  {
    skip:
      process.getuid?.() !== 0
        ? 'needs root'
        : !othersCanRun() && NOT_REACHABLE,
  },
  async () => {
    const inst = makeInstance();
    const nobody = getpwnam('nobody')!;
    try {
      const { q, req } = queueFile(inst, {
        recipients: [{ recipient: 'root@localhost' }],
      });
      chownTree(inst.top, nobody.uid, nobody.gid);
      await startService(inst, 'local', 'private', {
        uid: nobody.uid,
        gid: nobody.gid,
      });
      const [r] = await deliverRequest(inst.queueDir, 'local', req);
      assert.equal(r.reason, 'delivered to maildir');
      assert.equal(typeAt(q.file, q.offsets[0]), REC.DONE);
      const md = `${inst.top}/mail/root`;
      assert.equal(maildirMessages(md).length, 1);
      assert.equal(fs.statSync(path.join(md, 'new')).uid, nobody.uid);
    } finally {
      await stopInstance(inst);
    }
  },
);

function chownTree(top: string, uid: number, gid: number): void {
  fs.chownSync(top, uid, gid);
  for (const name of fs.readdirSync(top, { recursive: true }) as string[])
    fs.lchownSync(path.join(top, name), uid, gid);
}

test('does expand aliases from a file that postalias built', async () => {
  const inst = makeInstance([]);
  try {
    const aliases = path.join(inst.top, 'aliases');
    fs.writeFileSync(aliases, 'staff: tbob,\n  tcarol\n');
    const postalias = path.join(DIST, '..', 'packages', 'commands');
    execFileSync(
      process.execPath,
      [
        path.join(postalias, 'postalias.js'),
        '-c',
        inst.configDir,
        `hash:${aliases}`,
      ],
      { stdio: 'ignore' },
    );
    const mainCf = path.join(inst.configDir, 'main.cf');
    fs.appendFileSync(mainCf, `alias_maps = hash:${aliases}\n`);
    await startService(inst, 'local', 'private');
    const { req } = queueFile(inst, {
      recipients: [{ recipient: 'staff@localhost' }],
    });
    const [r] = await deliverRequest(inst.queueDir, 'local', req);
    assert.equal(r.action, 'delivered');
    assert.equal(maildirMessages(`${inst.top}/mail/tbob`).length, 1);
    assert.equal(maildirMessages(`${inst.top}/mail/tcarol`).length, 1);
  } finally {
    await stopInstance(inst);
  }
});

test('does survive a broken request and serve the next one', async () => {
  const inst = makeInstance();
  try {
    await startService(inst, 'local', 'private');
    const bad = await connectService(inst.queueDir, 'private', 'local');
    assert.deepEqual(await bad.readAttrs(), { protocol: 'delivery_protocol' });
    bad.writeAttrs({ queue_id: '../../etc/passwd', flags: 'x' });
    await assert.rejects(bad.readAttrs(), /connection closed/);
    const { req } = queueFile(inst, {});
    const [r] = await deliverRequest(inst.queueDir, 'local', req);
    assert.equal(r.action, 'delivered');
    assert.equal(inst.children[0].exitCode, null);
    assert.ok(
      inst.log.some((l) => l.includes('warning: serveDeliveryRequest:')),
    );
  } finally {
    await stopInstance(inst);
  }
});

test('does read the configuration it is given', () => {
  const inst = makeInstance();
  try {
    const config = Config.load({ configDir: inst.configDir });
    assert.equal(config.bool('local_delivery_without_passwd'), true);
    assert.equal(config.get('mail_spool_directory'), `${inst.top}/mail/`);
  } finally {
    fs.rmSync(inst.top, { recursive: true, force: true });
  }
});
