// Tests of a daemon's own descriptor of maillog_file: taken from the
// environment, reopened close-on-exec, refused when it is another file,
// and given up once "postfix logrotate" renamed the file.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOG_FD_ENV, LogAppender } from './log_appender';

function tempLog(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log_appender-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'maillog');
}

// As master does: the file open for appending, its number in the env.
function inherit(file: string): number {
  const fd = fs.openSync(file, 'a');
  process.env[LOG_FD_ENV] = String(fd);
  return fd;
}

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

test('does append whole lines to the file master passed', (t) => {
  const file = tempLog(t);
  const inherited = inherit(file);
  const appender = LogAppender.fromEnv(file);
  assert.ok(appender);
  assert.equal(process.env[LOG_FD_ENV], undefined);
  assert.equal(isOpen(inherited), false, 'the inherited number is closed');
  assert.equal(appender.write('one\ntwo\n'), true);
  assert.equal(fs.readFileSync(file, 'utf8'), 'one\ntwo\n');
});

// A child with the log as its descriptor 4, as master forks daemons,
// that takes it and runs a command listing the command's descriptors.
const CHILD = `
const { LogAppender } = require(${JSON.stringify(path.join(__dirname, 'log_appender.js'))});
const appender = LogAppender.fromEnv(process.argv[1]);
const cp = require('node:child_process');
const out = cp.spawnSync('sh', ['-c', 'ls -l /proc/$$/fd'], { encoding: 'utf8' });
process.stdout.write(String(Boolean(appender)) + '\\n' + out.stdout);
`;

test('does not leave the log open in commands a daemon runs', (t) => {
  const file = tempLog(t);
  const fd = fs.openSync(file, 'a');
  t.after(() => fs.closeSync(fd));
  const out = cp.spawnSync(process.execPath, ['-e', CHILD, file], {
    encoding: 'utf8',
    env: { ...process.env, [LOG_FD_ENV]: '4' },
    stdio: ['ignore', 'pipe', 'inherit', 'ignore', fd],
  });
  assert.match(out.stdout, /^true\n/);
  assert.doesNotMatch(out.stdout, /maillog/);
});

test('does refuse a descriptor that is not maillog_file', (t) => {
  const file = tempLog(t);
  const other = `${file}.other`;
  const inherited = inherit(other);
  fs.writeFileSync(file, '');
  assert.equal(LogAppender.fromEnv(file), null);
  assert.equal(isOpen(inherited), false);
  assert.equal(LogAppender.fromEnv(file), null, 'no env: no descriptor');
});

test('does give lines back once the file was rotated', async (t) => {
  const file = tempLog(t);
  inherit(file);
  const appender = LogAppender.fromEnv(file);
  assert.ok(appender);
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, '');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(appender.write('late\n'), false);
  assert.equal(appender.write('later\n'), false);
  assert.equal(fs.readFileSync(`${file}.1`, 'utf8'), '');
  assert.equal(fs.readFileSync(file, 'utf8'), '');
});

test('does give lines back once closed, as after master said log-reopen', (t) => {
  const file = tempLog(t);
  inherit(file);
  const appender = LogAppender.fromEnv(file);
  assert.ok(appender);
  appender.close();
  assert.equal(appender.write('late\n'), false);
  assert.equal(fs.readFileSync(file, 'utf8'), '');
});
