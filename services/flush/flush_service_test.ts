// Tests of the flush service over its real protocol on a Unix socket in
// a temporary queue directory, with real queue files in deferred/ and a
// listener on public/qmgr that records the triggers; and of the ETRN
// replies that packages/ipc/flush_client.ts gives smtpd.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { makeQueueTree, queuePath } from '../../packages/queue/mail_queue';
import { writeQueueFile } from '../qmgr/qmgr_fixture';
import { FLUSH_STAT, FlushService } from './flush_service';
import { serveFlush } from './flush_server';
import { etrnCommand, flushRequest } from '../../packages/ipc/flush_client';

interface World {
  queueDir: string;
  config: Config;
  triggers: string[];
  close(): Promise<void>;
}

function listen(where: string, fn: (s: net.Socket) => void) {
  return new Promise<net.Server>((resolve) => {
    const server = net.createServer(fn);
    server.listen(where, () => resolve(server));
  });
}

async function start(mainCf: string): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flush-'));
  const queueDir = path.join(dir, 'queue');
  makeQueueTree(queueDir);
  fs.writeFileSync(
    path.join(dir, 'main.cf'),
    `queue_directory = ${queueDir}\n${mainCf}\n`,
  );
  const config = Config.load({ configDir: dir });
  const service = new FlushService(queueDir, config);
  const triggers: string[] = [];
  const qmgr = await listen(path.join(queueDir, 'public', 'qmgr'), (s) => {
    s.on('data', (d) => triggers.push(d.toString()));
  });
  const flush = await listen(path.join(queueDir, 'public', 'flush'), (s) => {
    void serveFlush(s, service);
  });
  const close = async () => {
    await new Promise((r) => flush.close(r));
    await new Promise((r) => qmgr.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { queueDir, config, triggers, close };
}

function defer(w: World, id: string, rcpt: string): string {
  const file = queuePath(w.queueDir, 'deferred', id, w.config);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeQueueFile(file, {
    sender: 'alice@example.org',
    recipients: [{ address: rcpt }],
    lines: ['Subject: x', '', 'body'],
  });
  const later = new Date(Date.now() + 3600_000);
  fs.utimesSync(file, later, later);
  return file;
}

const ask = (w: World, req: Record<string, string>) =>
  flushRequest(w.queueDir, req);

test('does answer each request as Postfix flush_clnt.h says', async () => {
  const w = await start('fast_flush_domains = example.com');
  try {
    const table: Array<[Record<string, string>, number]> = [
      [{ request: 'add', site: 'example.com', queue_id: 'ABC123' }, 0],
      [{ request: 'add', site: 'Example.COM', queue_id: 'ABC124' }, 0],
      [{ request: 'add', site: 'other.net', queue_id: 'ABC125' }, 4],
      [{ request: 'add', site: '../etc', queue_id: 'ABC125' }, 3],
      [{ request: 'add', site: 'example.com', queue_id: 'a/b' }, 3],
      [{ request: 'send_site', site: 'other.net' }, 4],
      [{ request: 'send_file', queue_id: '' }, 3],
      [{ request: 'refresh' }, 0],
      [{ request: 'purge' }, 0],
      [{ request: 'frobnicate' }, 3],
    ];
    for (const [req, status] of table)
      assert.equal(await ask(w, req), status, JSON.stringify(req));
  } finally {
    await w.close();
  }
});

test('does move logged and matching deferred files to incoming on send_site', async () => {
  const w = await start('fast_flush_domains = example.com');
  try {
    defer(w, 'LOGGED1', 'bob@elsewhere.example');
    defer(w, 'MATCH1', 'carol@example.com');
    defer(w, 'OTHER1', 'dave@other.net');
    const add = { request: 'add', site: 'example.com', queue_id: 'LOGGED1' };
    assert.equal(await ask(w, add), FLUSH_STAT.OK);
    const log = path.join(w.queueDir, 'flush', 'example.com');
    assert.equal(fs.readFileSync(log, 'utf8'), 'LOGGED1\n');
    const req = { request: 'send_site', site: 'example.com' };
    assert.equal(await ask(w, req), FLUSH_STAT.OK);
    assert.deepEqual(fs.readdirSync(path.join(w.queueDir, 'incoming')).sort(), [
      'LOGGED1',
      'MATCH1',
    ]);
    for (const [id, left] of [
      ['OTHER1', true],
      ['MATCH1', false],
    ] as const)
      assert.equal(
        fs.existsSync(queuePath(w.queueDir, 'deferred', id, w.config)),
        left,
      );
    const st = fs.statSync(path.join(w.queueDir, 'incoming', 'MATCH1'));
    assert.equal(st.mode & 0o777, 0o740, 'unthrottle bit, ready');
    assert.ok(st.mtimeMs <= Date.now() + 1000, 'no longer cooling down');
    assert.equal(fs.readFileSync(log, 'utf8'), '');
    await waitFor(() => w.triggers.includes('I'));
  } finally {
    await w.close();
  }
});

test('does send one file on send_file and nothing for an unknown ID', async () => {
  const w = await start('');
  try {
    defer(w, 'ONE1', 'bob@example.com');
    for (const id of ['NOSUCH1', 'ONE1'])
      assert.equal(await ask(w, { request: 'send_file', queue_id: id }), 0);
    assert.deepEqual(fs.readdirSync(path.join(w.queueDir, 'incoming')), [
      'ONE1',
    ]);
    await waitFor(() => w.triggers.length === 1);
  } finally {
    await w.close();
  }
});

test('does send old logs on refresh and remove old empty ones', async () => {
  const w = await start('fast_flush_domains = a.example, b.example, c.example');
  try {
    const flushDir = path.join(w.queueDir, 'flush');
    const age = (site: string, hours: number) => {
      const then = new Date(Date.now() - hours * 3600_000);
      fs.utimesSync(path.join(flushDir, site), then, then);
    };
    defer(w, 'OLD1', 'x@elsewhere.example');
    defer(w, 'NEW1', 'y@elsewhere.example');
    for (const [site, id] of [
      ['a.example', 'OLD1'],
      ['b.example', 'NEW1'],
    ])
      await ask(w, { request: 'add', site, queue_id: id });
    fs.writeFileSync(path.join(flushDir, 'c.example'), '');
    age('a.example', 13);
    age('c.example', 8 * 24);
    assert.equal(await ask(w, { request: 'refresh' }), FLUSH_STAT.OK);
    assert.deepEqual(fs.readdirSync(path.join(w.queueDir, 'incoming')), [
      'OLD1',
    ]);
    assert.deepEqual(fs.readdirSync(flushDir).sort(), [
      'a.example',
      'b.example',
    ]);
    assert.equal(await ask(w, { request: 'purge' }), FLUSH_STAT.OK);
    assert.deepEqual(fs.readdirSync(path.join(w.queueDir, 'incoming')).sort(), [
      'NEW1',
      'OLD1',
    ]);
  } finally {
    await w.close();
  }
});

test('does survive junk and a bare trigger on its socket', async () => {
  const w = await start('fast_flush_domains = example.com');
  try {
    for (const bytes of ['W', 'junk\0', '\0\0\0'])
      await new Promise<void>((resolve) => {
        const s = net.connect(path.join(w.queueDir, 'public', 'flush'));
        s.on('connect', () => s.end(bytes));
        s.resume();
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
    const req = { request: 'send_site', site: 'example.com' };
    assert.equal(await ask(w, req), FLUSH_STAT.OK);
  } finally {
    await w.close();
  }
});

test('does give Postfix ETRN replies for each flush answer', async () => {
  const w = await start('fast_flush_domains = example.com');
  try {
    const table: Array<[string, number, string]> = [
      ['example.com', 250, 'Queuing started'],
      ['@example.com', 250, 'Queuing started'],
      ['other.net', 459, '<other.net>: service unavailable'],
      ['bad/site', 458, 'Unable to queue messages'],
    ];
    for (const [arg, code, text] of table)
      assert.deepEqual(
        await etrnCommand(w.queueDir, arg),
        { code, dsn: '', text },
        arg,
      );
  } finally {
    await w.close();
  }
  const down = await etrnCommand('/nonexistent', 'example.com');
  assert.equal(down.code, 458);
});

async function waitFor(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
