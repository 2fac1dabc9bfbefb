// Unit tests of master's half of the daemon_timeout watchdog, with real
// child processes on a fork channel: a child whose beats stop is killed
// with SIGKILL and named in a warning, one that beats in time is not.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import { initLog } from '../../packages/log/log';
import { MasterWatchdog } from './master_watchdog';

const lines: string[] = [];
initLog({ processName: 'master', sinks: [(line) => lines.push(line)] });

interface Exit {
  signal: string | null;
}

// A child running body, watched by a MasterWatchdog; killed after limitMs
// if still there.
function watch(body: string, limitMs: number): Promise<Exit> {
  const child = cp.spawn(process.execPath, ['-e', body], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  const dog = new MasterWatchdog(() => 'test_child.js');
  child.on('message', (m: { t: string; within: number }) => {
    if (m.t === 'beat') dog.beat(child, m.within);
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), limitMs);
  return new Promise((resolve) =>
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      dog.forget(child.pid!);
      resolve({ signal });
    }),
  );
}

const BEAT = "process.send({ t: 'beat', within: 1000 })";

test('does kill with SIGKILL a child whose beat is overdue', async () => {
  const exit = await watch(
    `${BEAT}; setTimeout(() => { for (;;) {} }, 300);`,
    6000,
  );
  assert.equal(exit.signal, 'SIGKILL');
  const warning = new RegExp(
    'warning: process test_child\\.js pid \\d+ watchdog timeout: ' +
      'no heartbeat for 1s -- killing$',
  );
  assert.ok(
    lines.some((l) => warning.test(l)),
    lines.join('\n'),
  );
});

test('does leave alone a child that beats in time', async () => {
  const exit = await watch(`setInterval(() => ${BEAT}, 300);`, 3000);
  assert.equal(exit.signal, 'SIGTERM');
});

test('does not watch a child that never beats', async () => {
  const exit = await watch('setInterval(() => {}, 1000);', 2500);
  assert.equal(exit.signal, 'SIGTERM');
});
