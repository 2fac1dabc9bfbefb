// Tests of the daemon skeleton against a stand-in master (this test on
// the fork channel, with a real listening socket): a one-client process
// at capacity keeps its listener, paused, and takes the next client
// itself when done, with no round trip to master. The child is this file
// run with the skeleton's arguments.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runDaemon } from './daemon';
import type { ChildToMaster } from './master_proto';
import {
  closeListener,
  openPausableListener,
  setAccepting,
} from '../ipc/listener';

const IS_CHILD = process.env.DAEMON_TEST_CHILD === '1';

// One client at a time: greet, and close when the client does.
if (IS_CHILD)
  runDaemon({
    name: 'echo',
    kind: 'stream',
    maxClients: 1,
    onConnection: (socket) => {
      socket.resume();
      socket.write(`${process.pid}\n`);
      socket.on('end', () => socket.end());
      socket.on('error', () => undefined);
    },
  });

function instanceDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daemon_test-'));
  fs.mkdirSync(path.join(dir, 'queue'));
  fs.writeFileSync(
    path.join(dir, 'main.cf'),
    `queue_directory = ${dir}/queue\nmaillog_file = /dev/null\n`,
  );
  return dir;
}

// A connected client and the first line the server sent it.
function client(file: string): Promise<[net.Socket, string]> {
  return new Promise((resolve, reject) => {
    const c = net.connect(file);
    c.setEncoding('utf8');
    c.once('data', (line: string) => resolve([c, line.trim()]));
    c.once('error', reject);
  });
}

function waitFor(got: ChildToMaster[], t: string): Promise<void> {
  return new Promise((resolve) => {
    const poll = () =>
      got.some((m) => m.t === t) ? resolve() : setTimeout(poll, 20);
    poll();
  });
}

test(
  'does take the next client itself when below capacity again, without asking master for the socket',
  { skip: IS_CHILD, timeout: 10_000 },
  async (t) => {
    const dir = instanceDir();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'sock');
    const server = await openPausableListener({
      kind: 'unix',
      path: file,
      label: 'x',
    });
    t.after(() => closeListener(server));
    setAccepting(server, false); // as master does while a child can
    const child = cp.fork(__filename, ['-n', 'echo', '-t', 'unix'], {
      env: { ...process.env, DAEMON_TEST_CHILD: '1', MAIL_CONFIG: dir },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    t.after(() => child.kill('SIGKILL'));
    const got: ChildToMaster[] = [];
    child.on('message', (m: ChildToMaster) => got.push(m));
    await waitFor(got, 'status');
    child.send({ t: 'listen' }, server);
    await waitFor(got, 'ready');

    const [first, pid] = await client(file);
    assert.equal(pid, String(child.pid));
    const second = client(file); // waits in the backlog: the child is full
    await waitFor(got, 'served');
    first.end();
    const [next, pid2] = await second;
    assert.equal(pid2, String(child.pid));
    next.end();
    const kinds = got.map((m) => m.t).filter((k) => k !== 'log');
    assert.ok(!kinds.includes('want-listen'), kinds.join(' '));
    assert.deepEqual(
      got
        .filter((m) => m.t === 'status')
        .map((m) => m.t === 'status' && m.avail),
      [true, false, true, false],
    );
  },
);
