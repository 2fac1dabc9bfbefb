// master's hand-off of clients to its children under crashes, capacity
// and reload (issue 6 point 6 follow-up): many clients at once at a
// private socket whose daemon (test/handoff_agent) crashes; each must be
// greeted or see its connection closed, none left waiting. A client is
// counted as left waiting after CLIENT_WAIT_MS without either.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { DIST, sleep, startInstance, type Instance } from './harness';
import {
  deliverRequestOutcome,
  DeliveryError,
  type DeliveryRequest,
} from '../packages/queue/delivery';

const CLIENT_WAIT_MS = 12_000;

type Outcome = 'greeted' | 'closed' | 'waiting';
type Tally = Record<Outcome, number>;

// The most clients one process said it served at once, and the
// processes that greeted.
let mostHeld = 0;
let greeters: number[] = [];

// master runs $daemon_directory/<command>/<command>.js: a folder of links
// to the built daemons plus the test daemon.
function daemonDirectory(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pfts-daemons-'));
  fs.chmodSync(dir, 0o755);
  const services = path.join(DIST, 'services');
  for (const name of fs.readdirSync(services))
    fs.symlinkSync(path.join(services, name), path.join(dir, name));
  fs.symlinkSync(
    path.join(DIST, 'test', 'handoff_agent'),
    path.join(dir, 'handoff_agent'),
  );
  return dir;
}

let mta: Instance;
let daemons: string;
let marks: string; // handoff_agent's crash-start marks, written as postfix

test.before(async () => {
  daemons = daemonDirectory();
  marks = fs.mkdtempSync(path.join(os.tmpdir(), 'pfts-marks-'));
  fs.chmodSync(marks, 0o1777);
  mta = await startInstance({
    main: {
      daemon_directory: daemons,
      service_throttle_time: '2s',
    },
    master: [
      'crashy unix - - n - - handoff_agent crash-after=3',
      `cold unix - - n - - handoff_agent crash-start=${marks}`,
      'full unix - - n - 2 handoff_agent ' +
        '-o max_clients_per_process=2 hold=150',
      'slow unix - - n - - handoff_agent hold=100',
      'victim unix - - n - - handoff_agent crash-after=2',
      'first unix - - n - - handoff_agent crash-after=1',
      'single unix - - n - 2 handoff_agent ' +
        '-o max_clients_per_process=1 hold=2000',
    ],
  });
});

test.after(async () => {
  await mta.destroy();
  fs.rmSync(daemons, { recursive: true, force: true });
  fs.rmSync(marks, { recursive: true, force: true });
});

// One client: the daemon's line, the connection closed without it, or
// neither within CLIENT_WAIT_MS.
function greeting(service: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(path.join(mta.queueDir, 'private', service));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('waiting');
    }, CLIENT_WAIT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const hello = /^hello (\d+) (\d+)\n/.exec(text);
      if (hello) greeters.push(Number(hello[1]));
      if (hello) mostHeld = Math.max(mostHeld, Number(hello[2]));
      resolve(hello ? 'greeted' : 'closed');
    });
  });
}

async function clients(service: string, count: number): Promise<Tally> {
  const all = Array.from({ length: count }, () => greeting(service));
  const tally: Tally = { greeted: 0, closed: 0, waiting: 0 };
  for (const outcome of await Promise.all(all)) tally[outcome]++;
  return tally;
}

// Children of handoff_agent that crashed since the log had `from` bytes,
// once there are at least `least` (master may log a crash a little after
// its client saw the connection close), or after ten seconds.
async function crashesSince(from: number, least: number): Promise<number> {
  const re = /warning: process \S+handoff_agent\.js pid \d+ exit status 1/g;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const count = (mta.log().slice(from).match(re) ?? []).length;
    if (count >= least || Date.now() > deadline) return count;
    await sleep(100);
  }
}

test('does greet or close every client when children crash with clients in their fork channel', async () => {
  const from = mta.log().length;
  const tally = await clients('crashy', 40);
  assert.equal(tally.waiting, 0, JSON.stringify(tally));
  // Each crash closes the one client its process was taking; the clients
  // master was still handing to it go to the next process.
  const crashes = await crashesSince(from, Math.max(tally.closed, 1));
  assert.ok(crashes > 0, 'no child crashed');
  assert.ok(tally.closed <= crashes, `${JSON.stringify(tally)}, ${crashes}`);
});

test('does greet every client of a service whose first process crashes at start, after the throttle', async () => {
  const tally = await clients('cold', 20);
  assert.deepEqual(tally, { greeted: 20, closed: 0, waiting: 0 });
  assert.match(
    mta.log(),
    /handoff_agent\.js: bad command startup -- throttling/,
  );
});

// Master must not send a child more clients than it has room for, nor
// may a child serve more than max_clients_per_process when a burst
// waits on its listener.
test('does greet every client when children at capacity pause their listener while master polls', async () => {
  mostHeld = 0;
  const tally = await clients('full', 40);
  assert.deepEqual(tally, { greeted: 40, closed: 0, waiting: 0 });
  assert.ok(mostHeld >= 1 && mostHeld <= 2, `${mostHeld} clients at once`);
});

test('does greet every client when master reloads in the middle of a burst', async () => {
  const burst = clients('slow', 40);
  await sleep(50);
  assert.equal(mta.postfix('reload').code, 0);
  const tally = await burst;
  assert.deepEqual(tally, { greeted: 40, closed: 0, waiting: 0 });
});

function request(): DeliveryRequest {
  return {
    flags: 0,
    queueName: 'active',
    queueId: '4QXYZ1ABC2',
    offset: 0,
    size: 0,
    nexthop: 'victim.example',
    encoding: '',
    sendopts: 0,
    sender: 'alice@localhost',
    envelopeId: '',
    retFlags: 0,
    arrivalTime: Date.now() / 1000,
    activeArrival: Date.now() / 1000,
    agentHandoff: Date.now() / 1000,
    logClientName: '',
    logClientAddress: '',
    logClientPort: '',
    logProtocolName: '',
    logHeloName: '',
    rewriteContext: 'local',
    recipients: [
      {
        originalRecipient: '',
        recipient: 'bob@victim.example',
        offset: 1,
        dsnOrigRcpt: '',
        notifyFlags: 0,
      },
    ],
  };
}

// The agent dies after accept() on its own listener: the kernel closes
// the client, and qmgr's side fails at once rather than after
// qmgr_ipc_timeout.
test('does fail a delivery at once when the agent dies before greeting', async () => {
  await clients('victim', 1); // a process is up and holds the listener
  await sleep(500);
  const started = Date.now();
  await assert.rejects(
    deliverRequestOutcome(mta.queueDir, 'victim', request(), 30_000, 30_000),
    DeliveryError,
  );
  assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
});

// Each process takes its client (and says so) and dies at once: master
// sees the exit before it reads the last messages unless it waits for
// the channel's end, and would then take the crash for a bad startup.
test('does not throttle a service whose processes crash on a client they took', async () => {
  const from = mta.log().length;
  for (let i = 0; i < 5; i++) assert.equal(await greeting('first'), 'closed');
  assert.ok((await crashesSince(from, 5)) >= 5);
  assert.doesNotMatch(mta.log().slice(from), /bad command startup/);
});

// Two clients reach a process that has room for one and holds the
// listener: libuv accepts both; the second goes back to master, which
// starts the second process for it rather than let it wait.
test('does give another process a client accepted beyond capacity', async () => {
  assert.equal(await greeting('single'), 'greeted'); // one process is up
  greeters = [];
  const tally = await clients('single', 2);
  assert.deepEqual(tally, { greeted: 2, closed: 0, waiting: 0 });
  assert.equal(new Set(greeters).size, 2, `greeted by ${greeters}`);
});
