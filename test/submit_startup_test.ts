// How the submission commands start, end to end: the bin shims of
// sendmail, mailq and postqueue, and the setgid launcher (built here with
// gcc, not installed setgid) running postdrop through sendmail_loader.js.
// Real processes on a temporary instance; the launcher test needs gcc.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  runCommand,
  queueNames,
  startSubmitInstance,
} from '../packages/commands/submit_testkit';
import { encodeRecord, REC } from '../packages/queue/record';
import { QUEUE } from '../packages/queue/mail_queue';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'packages', 'commands', 'bin');
const COMMANDS = path.join(REPO, 'dist', 'packages', 'commands');
const LAUNCHER = path.join(REPO, 'scripts', 'setgid_launcher', 'launcher.c');
const HAVE_GCC =
  cp.spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
// node reports a CA file it cannot read when it starts: the shims drop
// the variable, so no such warning may appear.
const CA_WARNING = /extra certs/i;

function withCaFile<T>(run: () => T): T {
  const saved = process.env.NODE_EXTRA_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = '/nonexistent/ca.pem';
  try {
    return run();
  } finally {
    if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = saved;
  }
}

test('sendmail through its bin shim queues mail and drops NODE_EXTRA_CA_CERTS', async () => {
  const h = await startSubmitInstance();
  try {
    const r = await withCaFile(() =>
      runCommand(h.dir, 'sendmail', ['-f', 'a@x.example', 'b@y.example'], {
        file: path.join(BIN, 'sendmail'),
        input: 'Subject: shim\n\nbody\n',
      }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, CA_WARNING);
    assert.equal(queueNames(h.queueDir, QUEUE.MAILDROP).length, 1);
  } finally {
    await h.close();
  }
});

test('mailq and postqueue through their bin shims list the queue', async () => {
  const h = await startSubmitInstance();
  try {
    for (const name of ['mailq', 'postqueue']) {
      const args = name === 'mailq' ? [] : ['-p'];
      const r = await withCaFile(() =>
        runCommand(h.dir, name, args, { file: path.join(BIN, name) }),
      );
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /Mail queue is empty|^-Queue ID-/, name);
      assert.doesNotMatch(r.stderr, CA_WARNING, name);
    }
  } finally {
    await h.close();
  }
});

test('postqueue -p ends without a stack trace when its reader has gone', async () => {
  const h = await startSubmitInstance();
  try {
    const child = cp.spawn(path.join(BIN, 'postqueue'), ['-c', h.dir, '-p'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise((r) => child.on('close', r));
    assert.doesNotMatch(stderr, /EPIPE|\n\s+at /);
    assert.equal(code, 74);
  } finally {
    await h.close();
  }
});

// The records sendmail gives postdrop for one message.
function postdropInput(): Buffer {
  return Buffer.concat([
    encodeRecord(REC.SENDER, 'a@x.example'),
    encodeRecord(REC.RCPT, 'b@y.example'),
    encodeRecord(REC.MESG, ''),
    encodeRecord(REC.NORM, 'Subject: launcher'),
    encodeRecord(REC.XTRA, ''),
    encodeRecord(REC.END, ''),
  ]);
}

// NODE_PATH is a script that notes its arguments and runs node.
function buildLauncher(dir: string, configDir: string): string {
  const node = path.join(dir, 'node');
  fs.writeFileSync(
    node,
    `#!/bin/sh\necho "$@" >> ${dir}/args\nexec ${process.execPath} "$@"\n`,
    { mode: 0o755 },
  );
  const out = path.join(dir, 'postdrop');
  cp.execFileSync('gcc', [
    `-DNODE_PATH="${node}"`,
    `-DSCRIPT_PATH="${path.join(COMMANDS, 'postdrop.js')}"`,
    `-DCONFIG_DIR="${configDir}"`,
    '-o',
    out,
    LAUNCHER,
  ]);
  return out;
}

test(
  'the setgid launcher runs postdrop through sendmail_loader.js with its fixed -c',
  {
    skip: HAVE_GCC ? false : 'needs gcc',
  },
  async () => {
    const h = await startSubmitInstance();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'launcher-test-'));
    try {
      const launcher = buildLauncher(dir, h.dir);
      const r = await runCommand(
        h.dir,
        'postdrop',
        ['-r', '-c', '/elsewhere'],
        {
          file: launcher,
          input: postdropInput(),
        },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /status\x000\x00/);
      const args = fs.readFileSync(path.join(dir, 'args'), 'utf8');
      assert.equal(
        args,
        `${path.join(COMMANDS, 'sendmail_loader.js')} postdrop postdrop -c ${h.dir} -r -c /elsewhere\n`,
      );
      assert.equal(queueNames(h.queueDir, QUEUE.MAILDROP).length, 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      await h.close();
    }
  },
);
