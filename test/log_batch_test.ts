// Tests of the log path from daemons to maillog_file: the lines a daemon
// logs in one event-loop turn go to master as one message, and none is
// lost when the daemon ends with msg.fatal or process.exit in that turn.
// A small daemon written into a test daemon_directory runs under master.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildToMaster } from '../packages/daemon/master_proto';
import {
  DIST,
  isRoot,
  NOT_REACHABLE,
  othersCanRun,
  startInstance,
  type Instance,
} from './harness';

// The daemon: logs two lines, then ends as its service name says, in
// the same turn. "logfatal" also sends one line in the old one-line shape.
const DAEMON = `
const { runDaemon } = require(${JSON.stringify(`${DIST}/packages/daemon/daemon.js`)});
const { msg, formatLine } = require(${JSON.stringify(`${DIST}/packages/log/log.js`)});
runDaemon({
  name: 'logfatal',
  kind: 'stream',
  init: (ctx) => {
    const name = ctx.serviceName;
    msg.info(name + ': first');
    msg.warn(name + ': second');
    if (name === 'logexit') process.exit(0);
    if (name === 'logturn') return;
    process.send({ t: 'log', line: formatLine(name + ': old shape') });
    msg.fatal(name + ': last');
  },
  onConnection: (socket) => socket.destroy(),
});
`;

function daemonDirectory(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pfts-logd-'));
  fs.chmodSync(dir, 0o755);
  const services = path.join(DIST, 'services');
  for (const name of fs.readdirSync(services))
    fs.symlinkSync(path.join(services, name), path.join(dir, name));
  fs.mkdirSync(path.join(dir, 'logfatal'), { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'logfatal', 'logfatal.js'), DAEMON, {
    mode: 0o644,
  });
  return dir;
}

// A client makes master start the service's first process.
function poke(mta: Instance, service: string): void {
  const socket = net.connect(path.join(mta.queueDir, 'private', service));
  socket.on('error', () => undefined);
  socket.on('connect', () => socket.end());
}

const SKIP = isRoot() && !othersCanRun() ? NOT_REACHABLE : false;

test(
  'does put in maillog every line of a daemon that ends in the turn it logged them',
  { skip: SKIP, timeout: 60_000 },
  async (t) => {
    const daemons = daemonDirectory();
    t.after(() => fs.rmSync(daemons, { recursive: true, force: true }));
    const mta = await startInstance({
      main: { daemon_directory: daemons },
      master: [
        'logfatal unix - - n - 1 logfatal',
        'logexit unix - - n - 1 logfatal',
      ],
    });
    t.after(() => mta.destroy());

    const cases = [
      {
        service: 'logfatal',
        lines: ['first', 'warning: ~second', 'old shape', 'fatal: ~last'],
      },
      { service: 'logexit', lines: ['first', 'warning: ~second'] },
    ];
    for (const { service } of cases) poke(mta, service);
    for (const { service, lines } of cases)
      for (const text of lines) {
        const shown = text.replace(/^(.*?)~|^/, `$1${service}: `);
        await mta.waitForLog(
          new RegExp(`postfix/logfatal\\[\\d+\\]: ${shown}$`, 'm'),
        );
      }
  },
);

// A stand-in master on the fork channel, as daemon_test does.
function forkDaemon(dir: string): cp.ChildProcess {
  const script = path.join(dir, 'logfatal.js');
  fs.writeFileSync(script, DAEMON);
  return cp.fork(script, ['-n', 'logturn', '-t', 'unix'], {
    env: { ...process.env, MAIL_CONFIG: dir },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

test(
  'does send the lines of one event-loop turn to master as one message',
  { timeout: 20_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log_batch-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.mkdirSync(path.join(dir, 'queue'));
    fs.writeFileSync(
      path.join(dir, 'main.cf'),
      `queue_directory = ${dir}/queue\nmaillog_file = /dev/null\n`,
    );
    const child = forkDaemon(dir);
    t.after(() => child.kill('SIGKILL'));
    const logs: ChildToMaster[] = [];
    await new Promise<void>((resolve) =>
      child.on('message', (m: ChildToMaster) => {
        if (m.t === 'log' && logs.push(m) === 1) resolve();
      }),
    );
    // Lines sent one by one would all have come by now.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(logs.length, 1, JSON.stringify(logs));
    const texts = (logs[0].t === 'log' && logs[0].lines) || [];
    assert.deepEqual(
      texts.map((line) => line.replace(/^.*?\]: /, '')),
      ['logturn: first', 'warning: logturn: second'],
    );
  },
);
