// Unit tests of the daemon_timeout watchdog, each in a process of its
// own: a blocked event loop is killed by SIGKILL, a client that is never
// done makes the process exit 1, a healthy process is left alone.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const WATCHDOG = path.join(__dirname, 'watchdog.js');

interface Exit {
  code: number | null;
  signal: string | null;
  stderr: string;
}

// Runs body after a 1 s watchdog is set up; kills it after limitMs.
function run(body: string, limitMs: number): Promise<Exit> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-'));
  const script =
    `const { Watchdog } = require(${JSON.stringify(WATCHDOG)});\n` +
    `const dog = new Watchdog(1, ${JSON.stringify(dir)});\n${body}\n`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), limitMs);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, stderr });
    }),
  );
}

const CASES: Array<[string, string, Partial<Exit>, RegExp | null]> = [
  [
    'does kill with SIGKILL when the event loop is blocked',
    'setTimeout(() => { for (;;) {} }, 10);',
    { signal: 'SIGKILL' },
    /fatal: watchdog timeout/,
  ],
  [
    'does exit 1 when a client is not done within the timeout',
    'dog.begin({}); setInterval(() => {}, 1000);',
    { code: 1, signal: null },
    null,
  ],
  [
    'does leave a process alone whose clients finish in time',
    'setInterval(() => { const c = {}; dog.begin(c); dog.done(c); }, 100);',
    { signal: 'SIGTERM' },
    null,
  ],
];

for (const [name, body, want, stderr] of CASES)
  test(name, async () => {
    const exit = await run(body, 6000);
    for (const [k, v] of Object.entries(want))
      assert.equal(exit[k as keyof Exit], v, `${k}: ${exit.stderr}`);
    if (stderr) assert.match(exit.stderr, stderr);
  });
