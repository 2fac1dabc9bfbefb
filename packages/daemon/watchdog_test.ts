// Unit tests of the child side of the daemon_timeout watchdog, each in a
// process of its own: a client that is never done makes the process exit
// 1, a healthy process is left alone, and beats go to master over the
// fork channel at the period derived from daemon_timeout.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { beatPeriodMs } from './watchdog';

const WATCHDOG = path.join(__dirname, 'watchdog.js');

interface Exit {
  code: number | null;
  signal: string | null;
  stderr: string;
  beats: unknown[];
}

// Runs body after a 1 s watchdog is set up, with a fork channel to us;
// kills it after limitMs.
function run(body: string, limitMs: number): Promise<Exit> {
  const script =
    `const { Watchdog } = require(${JSON.stringify(WATCHDOG)});\n` +
    `const dog = new Watchdog(1, (m) => process.send(m));\n${body}\n`;
  const child = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  const beats: unknown[] = [];
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  child.on('message', (m) => beats.push(m));
  const timer = setTimeout(() => child.kill('SIGTERM'), limitMs);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, beats });
    }),
  );
}

const CASES: Array<[string, string, Partial<Exit>]> = [
  [
    'does exit 1 when a client is not done within the timeout',
    'dog.begin({}); setInterval(() => {}, 1000);',
    { code: 1, signal: null },
  ],
  [
    'does exit 1 when a later client outlives the timeout',
    'const a = {}; dog.begin(a); setTimeout(() => dog.done(a), 500);' +
      'setTimeout(() => dog.begin({}), 700); setInterval(() => {}, 1000);',
    { code: 1, signal: null },
  ],
  [
    'does leave a process alone whose clients finish in time',
    'setInterval(() => { const c = {}; dog.begin(c); dog.done(c); }, 100);',
    { signal: 'SIGTERM' },
  ],
];

for (const [name, body, want] of CASES)
  test(name, async () => {
    const exit = await run(body, 4500);
    for (const [k, v] of Object.entries(want))
      assert.equal(exit[k as keyof Exit], v, `${k}: ${exit.stderr}`);
  });

test('does beat to master at once and each period while the loop runs', async () => {
  const exit = await run('setInterval(() => {}, 1000);', 4500);
  // A 1 s daemon_timeout beats every 2 s: at 0, 2 and 4 s.
  assert.ok(exit.beats.length >= 2, `${exit.beats.length} beats`);
  for (const beat of exit.beats)
    assert.deepEqual(beat, { t: 'beat', within: 3000 });
});

test('does not beat while the event loop is blocked', async () => {
  const exit = await run('setTimeout(() => { for (;;) {} }, 100);', 4500);
  assert.equal(exit.beats.length, 1);
  assert.equal(exit.signal, 'SIGTERM');
});

const PERIODS: Array<[number, number]> = [
  [1, 2000], // never more often than once in 2 s
  [60, 6000], // a tenth of daemon_timeout
  [18000, 20_000], // Postfix's default: within qmgr's 30 s grace
];

for (const [seconds, period] of PERIODS)
  test(`does beat every ${period} ms when daemon_timeout is ${seconds}s`, () =>
    assert.equal(beatPeriodMs(seconds * 1000), period));
