// Tests of pausable listeners on real Unix and TCP sockets: a paused
// server leaves its clients in the backlog, a resumed one takes them,
// and a child process given the socket takes every client while the
// parent's copy is paused. The child is this file run with an argument.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  closeListener,
  openPausableListener,
  setAccepting,
  type ListenerAddress,
} from './listener';

// Run as the child: answer each client with "child" and close.
const IS_CHILD = process.argv[2] === 'child';
if (IS_CHILD)
  process.on('message', (_m, server) => {
    (server as net.Server).on('connection', (c) => c.end('child\n'));
    process.send?.('ready');
  });

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'listener_test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const KINDS = [
  {
    kind: 'unix',
    make: async (dir: string): Promise<ListenerAddress> => ({
      kind: 'unix',
      path: path.join(dir, 'sock'),
      label: 'private/sock',
    }),
  },
  {
    kind: 'inet',
    make: async (): Promise<ListenerAddress> => {
      const port = await freePort();
      return { kind: 'inet', host: '127.0.0.1', port, label: `:${port}` };
    },
  },
];

function connect(addr: ListenerAddress): net.Socket {
  return addr.kind === 'unix'
    ? net.connect(addr.path)
    : net.connect(addr.port, addr.host);
}

// The first line a server sends, or "" when it closes without one.
function answer(addr: ListenerAddress): Promise<string> {
  return new Promise((resolve) => {
    const c = connect(addr);
    let text = '';
    c.on('data', (d) => (text += d));
    c.on('close', () => resolve(text.trim()));
    c.on('error', () => resolve(`error`));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const k of IS_CHILD ? [] : KINDS) {
  test(`does not accept while paused and takes the waiting client when resumed (${k.kind})`, async (t) => {
    const addr = await k.make(tempDir(t));
    const server = await openPausableListener(addr);
    t.after(() => closeListener(server));
    let accepted = 0;
    server.on('connection', (c) => {
      accepted++;
      c.end('parent\n');
    });
    setAccepting(server, false);
    const reply = answer(addr);
    await sleep(300);
    assert.equal(accepted, 0);
    setAccepting(server, true);
    assert.equal(await reply, 'parent');
    assert.equal(accepted, 1);
  });

  test(`does leave every client to a child holding the socket while paused (${k.kind})`, async (t) => {
    const addr = await k.make(tempDir(t));
    const server = await openPausableListener(addr);
    t.after(() => closeListener(server));
    server.on('connection', (c) => c.end('parent\n'));
    setAccepting(server, false);
    const child = cp.fork(__filename, ['child'], { stdio: 'ignore' });
    t.after(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve) => {
      child.once('message', () => resolve());
      child.send('listen', server);
    });
    const replies: string[] = [];
    for (let i = 0; i < 20; i++) replies.push(await answer(addr));
    assert.deepEqual(new Set(replies), new Set(['child']));

    // The child dies: the socket stays open in the parent, and the
    // parent takes clients again once told to.
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const waiting = answer(addr);
    await sleep(100);
    setAccepting(server, true);
    assert.equal(await waiting, 'parent');
  });
}

test(
  'does refuse to bind a TCP port already in use, naming it',
  {
    skip: IS_CHILD,
  },
  async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        openPausableListener({
          kind: 'inet',
          host: '127.0.0.1',
          port,
          label: `127.0.0.1:${port}`,
        }),
        new RegExp(`^Error: bind 127\\.0\\.0\\.1:${port}: EADDRINUSE`),
      );
    } finally {
      busy.close();
    }
  },
);

test(
  'does remove the socket file when closed for good',
  {
    skip: IS_CHILD,
  },
  async (t) => {
    const dir = tempDir(t);
    const file = path.join(dir, 'sock');
    const server = await openPausableListener({
      kind: 'unix',
      path: file,
      label: 'x',
    });
    assert.equal(fs.existsSync(file), true);
    closeListener(server);
    assert.equal(fs.existsSync(file), false);
  },
);
