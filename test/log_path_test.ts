// Tests of the log path from daemons to maillog_file: a daemon appends
// the lines of one event-loop turn itself (or sends them to master as one
// message), loses none when it ends with msg.fatal or process.exit in that
// turn, and follows "postfix logrotate". A small daemon written into a
// test daemon_directory runs under master.

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
  sleep,
  SmtpClient,
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

// One SMTP session that only says hello and goodbye.
async function session(mta: Instance): Promise<void> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('QUIT');
  smtp.close();
}

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern, 'gm'))?.length ?? 0;
}

const CONNECT = /postfix\/smtpd\[\d+\]: connect from /;

test(
  'does append a daemon line to maillog itself, with master stopped',
  { timeout: 60_000 },
  async (t) => {
    const mta = await startInstance();
    t.after(() => mta.destroy());
    await session(mta); // smtpd now runs and accepts by itself
    await mta.waitForLog(/disconnect from/);
    const before = count(mta.log(), CONNECT);
    const master = mta.masterPid()!;
    process.kill(master, 'SIGSTOP');
    t.after(() => process.kill(master, 'SIGCONT'));
    await session(mta);
    const deadline = Date.now() + 10_000;
    while (count(mta.log(), CONNECT) <= before && Date.now() < deadline)
      await sleep(100);
    assert.equal(count(mta.log(), CONNECT), before + 1, mta.log());
  },
);

// Daemons run as mail_owner when we are root: with the log folder closed
// to them only master's word tells them of the rotation.
const ROTATIONS = [
  { folder: 0o755, how: 'they can stat the path' },
  { folder: 0o700, how: 'only master tells them', skip: !isRoot() },
];

for (const { folder, how, skip } of ROTATIONS)
  test(
    `does write the lines of a running daemon to the new maillog after postfix logrotate when ${how}`,
    { timeout: 60_000, skip },
    async (t) => {
      const mta = await startInstance({
        main: { maillog_file_compressor: '' },
      });
      t.after(() => mta.destroy());
      fs.chmodSync(path.dirname(mta.logFile), folder);
      await session(mta);
      await mta.waitForLog(/disconnect from/);
      const before = count(mta.log(), CONNECT);
      const rotate = mta.postfix('logrotate');
      assert.equal(rotate.code, 0, rotate.stderr);
      await sleep(200);
      await session(mta);
      await mta.waitForLog(CONNECT);
      const rotated = fs
        .readdirSync(path.dirname(mta.logFile))
        .filter((name) => name !== 'maillog');
      assert.equal(rotated.length, 1, rotated.join(' '));
      const old = fs.readFileSync(
        path.join(path.dirname(mta.logFile), rotated[0]),
        'utf8',
      );
      assert.equal(count(old, CONNECT), before, old);
      assert.equal(count(mta.log(), CONNECT), 1, mta.log());
    },
  );
