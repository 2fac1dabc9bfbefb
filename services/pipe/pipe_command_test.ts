// Unit tests of pipe(8)'s verdict on a command's end (exit status,
// signal, time limit, "D.S.N text" output) and of a real command run:
// argv without a shell, output kept as the reason, offspring killed.

import test from 'node:test';
import assert from 'node:assert/strict';
import { commandOutcome, runCommand, type CommandEnd } from './pipe_command';
import { selfRights } from '../local/local_user';

const END: CommandEnd = {
  code: 0,
  signal: null,
  timedOut: false,
  output: '',
};

const CASES: Array<[string, Partial<CommandEnd>, string, string, string]> = [
  ['exit 0', {}, 'sent', '2.0.0', ''],
  ['exit 75', { code: 75 }, 'deferred', '4.3.0', 'temporary failure'],
  [
    'exit 67',
    { code: 67, output: 'who?' },
    'bounced',
    '5.1.1',
    'user unknown. Command output: who?',
  ],
  ['exit 78', { code: 78 }, 'bounced', '5.3.5', 'local configuration error'],
  [
    'exit 1',
    { code: 1 },
    'bounced',
    '5.3.0',
    'Command died with status 1: "/bin/x"',
  ],
  [
    'a DSN in the output',
    { code: 1, output: '4.2.2 mailbox full' },
    'deferred',
    '4.2.2',
    'mailbox full',
  ],
  [
    'a signal',
    { code: null, signal: 'SIGSEGV' },
    'deferred',
    '4.3.0',
    'Command died with signal 11: "/bin/x"',
  ],
  [
    'the time limit',
    { code: null, signal: 'SIGKILL', timedOut: true },
    'bounced',
    '5.3.0',
    'Command time limit exceeded: "/bin/x"',
  ],
  [
    'a missing command',
    { code: -2, spawnError: 'No such file or directory' },
    'deferred',
    '4.3.0',
    'temporary failure. Command output: pipe_command: execvp /bin/x: No such file or directory',
  ],
];

for (const [when, end, status, dsn, reason] of CASES)
  test(`does answer ${status} ${dsn} when the command ends with ${when}`, () => {
    assert.deepEqual(commandOutcome('/bin/x', { ...END, ...end }), {
      status,
      dsn,
      reason,
    });
  });

function run(argv: string[], input: string, timeLimit = 10) {
  return runCommand({
    argv,
    rights: selfRights(),
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    timeLimit,
    input: [Buffer.from(input)],
  });
}

test('does pass arguments without a shell', async () => {
  const o = await run(
    ['/bin/sh', '-c', 'echo "$1"; exit 64', 'x', '$HOME; `id`'],
    '',
  );
  assert.equal(
    o.reason,
    'command line usage error. Command output: $HOME; `id`',
  );
});

test('does feed the message to standard input', async () => {
  const o = await run(
    ['/bin/sh', '-c', 'cat; exit 65'],
    'line one\nline two\n',
  );
  assert.equal(
    o.reason,
    'data format error. Command output: line one line two',
  );
});

test('does kill the command when the time limit passes', async () => {
  const started = Date.now();
  const o = await run(['/bin/sleep', '30'], '', 1);
  assert.equal(o.dsn, '5.3.0');
  assert.ok(Date.now() - started < 10_000);
});

test('does defer when the command cannot be executed', async () => {
  const o = await run(['/nonexistent/command'], 'x');
  assert.deepEqual(o, {
    status: 'deferred',
    dsn: '4.3.0',
    reason:
      'temporary failure. Command output: pipe_command: execvp ' +
      '/nonexistent/command: No such file or directory',
  });
});

test('does kill the command when its input cannot be read', async () => {
  function* broken(): Generator<Buffer> {
    yield Buffer.from('start\n');
    throw new Error('premature end of queue file');
  }
  const started = Date.now();
  await assert.rejects(
    runCommand({
      argv: ['/bin/cat'],
      rights: selfRights(),
      cwd: '/',
      env: {},
      timeLimit: 30,
      input: broken(),
    }),
    /premature end/,
  );
  assert.ok(Date.now() - started < 10_000);
});
