// |command delivery with real processes: input and environment, the
// sysexits mapping, a leading DSN code in the output, the time limit,
// and when a shell is used.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commandArgv, deliverCommand } from './local_command';
import { selfRights } from './local_user';
import { defaultSettings } from './local_state';
import {
  removeDir,
  tempDir,
  testMessage,
  writeQueueFile,
} from './local_testkit';

function setup(timeLimit = 100) {
  const dir = tempDir();
  const q = writeQueueFile(dir, {});
  const msg = testMessage(q);
  const target = {
    msg,
    copy: { originalRecipient: 'bob', deliveredTo: 'bob@localhost' },
    rights: selfRights(),
    settings: defaultSettings({ commandTimeLimit: timeLimit }),
    env: { PATH: '/usr/bin:/bin', USER: 'bob', EXTENSION: 'ext' },
    cwd: dir,
  };
  const done = () => {
    fs.closeSync(msg.fd);
    removeDir(dir);
  };
  return { dir, target, done };
}

test('does feed the message with a From_ line and the environment', async () => {
  const { dir, target, done } = setup();
  try {
    const out = path.join(dir, 'out');
    const cmd = `cat > ${out}; echo "$USER $EXTENSION" >> ${out}`;
    const outcome = await deliverCommand(target, cmd);
    assert.deepEqual(outcome, {
      status: 'sent',
      dsn: '2.0.0',
      reason: `delivered to command: ${cmd}`,
    });
    const text = fs.readFileSync(out, 'utf8');
    assert.match(text, /^From alice@example.com {2}\w{3} /);
    assert.ok(text.includes('\nReturn-Path: <alice@example.com>\n'));
    assert.ok(text.includes('\nFrom the start of a line\nbob ext\n'));
  } finally {
    done();
  }
});

const EXITS: Array<[string, string, string, RegExp]> = [
  ['exit 75;', 'deferred', '4.3.0', /^temporary failure$/],
  ['exit 67;', 'bounced', '5.1.1', /^user unknown$/],
  [
    '/bin/false',
    'bounced',
    '5.3.0',
    /^Command died with status 1: "\/bin\/false"$/,
  ],
  [
    'echo "4.2.1 mailbox busy"; exit 1',
    'deferred',
    '4.2.1',
    /Command output: 4\.2\.1 mailbox busy$/,
  ],
  ['kill -9 $$', 'deferred', '4.3.0', /^Command died with signal 9: /],
];

for (const [cmd, status, dsn, reason] of EXITS) {
  test(`does give ${status} ${dsn} when the command runs "${cmd}"`, async () => {
    const { target, done } = setup();
    try {
      const outcome = await deliverCommand(target, cmd);
      assert.equal(outcome.status, status);
      assert.equal(outcome.dsn, dsn);
      assert.match(outcome.reason, reason);
    } finally {
      done();
    }
  });
}

test('does kill the command and defer after command_time_limit', async () => {
  const { target, done } = setup(1);
  try {
    const started = Date.now();
    const outcome = await deliverCommand(target, 'sleep 30; echo late');
    assert.equal(outcome.status, 'deferred');
    assert.match(
      outcome.reason,
      /^Command time limit exceeded: "sleep 30; echo late"/,
    );
    assert.ok(Date.now() - started < 10_000);
  } finally {
    done();
  }
});

test('does defer when the command cannot be started', async () => {
  const { target, done } = setup();
  try {
    const outcome = await deliverCommand(target, '/nonexistent/prog');
    assert.equal(outcome.status, 'deferred');
    assert.match(outcome.reason, /cannot execute command/);
  } finally {
    done();
  }
});

const ARGV: Array<[string, string, string[]]> = [
  ['/usr/bin/procmail -a x', '', ['/usr/bin/procmail', '-a', 'x']],
  ['cat > /tmp/x', '', ['/bin/sh', '-c', 'cat > /tmp/x']],
  ['prog $HOME', '', ['/bin/sh', '-c', 'prog $HOME']],
  ['prog', '/bin/bash -c', ['/bin/bash', '-c', 'prog']],
];

for (const [cmd, shell, argv] of ARGV) {
  test(`does run "${cmd}" as ${JSON.stringify(argv)}`, () => {
    assert.deepEqual(commandArgv(cmd, shell), argv);
  });
}
