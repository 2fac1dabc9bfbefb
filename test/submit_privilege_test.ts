// The privilege model of local submission, tested as root with a real
// unprivileged user made by useradd: through the setgid postdrop
// launcher the user can submit with sendmail and list the queue with
// mailq, and cannot list maildrop/, read a queue file, connect to a
// private/ socket or run postsuper. Skipped when not root or without gcc.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  isRoot,
  NOT_REACHABLE,
  othersCanRun,
  makeInstance,
  waitForPort,
  DIST,
  type Instance,
} from './harness';
import { Config } from '../packages/config/config';
import { installSetgidPrograms } from '../packages/commands/submit_setgid';

const USER = 'pfts_submit';
const hasGcc =
  cp.spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = !isRoot()
  ? 'needs root'
  : !hasGcc
    ? 'needs gcc'
    : !othersCanRun()
      ? NOT_REACHABLE
      : false;

function ensureUser(): { uid: number; gid: number } {
  if (cp.spawnSync('id', [USER], { stdio: 'ignore' }).status !== 0)
    cp.spawnSync(
      'useradd',
      ['-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', USER],
      { stdio: 'ignore' },
    );
  const id = (flag: string) =>
    Number(
      cp.spawnSync('id', [flag, USER], { encoding: 'utf8' }).stdout.trim(),
    );
  return { uid: id('-u'), gid: id('-g') };
}

function asUser(
  ids: { uid: number; gid: number },
  file: string,
  args: string[],
  input = '',
) {
  const r = cp.spawnSync(file, args, {
    ...ids,
    input,
    encoding: 'utf8',
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function startWithLaunchers(): Promise<Instance> {
  const mta = await makeInstance({ start: false, without: ['qmgr'] });
  const bin = path.join(mta.dir, 'bin');
  fs.appendFileSync(
    path.join(mta.configDir, 'main.cf'),
    `command_directory = ${bin}\n`,
  );
  installSetgidPrograms(Config.load({ configDir: mta.configDir }));
  const r = mta.postfix('start');
  assert.equal(r.code, 0, r.stderr);
  await waitForPort(mta.smtpPort);
  return mta;
}

test(
  'an unprivileged user can submit and run mailq but cannot touch the queue',
  { skip },
  async () => {
    const ids = ensureUser();
    const mta = await startWithLaunchers();
    try {
      const launcher = fs.statSync(path.join(mta.dir, 'bin', 'postdrop'));
      assert.equal(launcher.mode & 0o7777, 0o2755);
      const st = fs.statSync(path.join(mta.queueDir, 'maildrop'));
      assert.equal(st.mode & 0o7777, 0o730);
      const postfixUid = Number(
        cp
          .spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' })
          .stdout.trim(),
      );
      const postdropGid = Number(
        cp
          .spawnSync('getent', ['group', 'postdrop'], { encoding: 'utf8' })
          .stdout.split(':')[2],
      );
      assert.deepEqual([st.uid, st.gid], [postfixUid, postdropGid]);
      assert.equal(launcher.gid, postdropGid);
      assert.equal(
        fs.statSync(path.join(mta.queueDir, 'public')).mode & 0o7777,
        0o710,
      );

      const sendmail = path.join(DIST, 'packages', 'commands', 'sendmail.js');
      const env = ['-C', mta.configDir];
      const sent = asUser(
        ids,
        process.execPath,
        [sendmail, ...env, 'someone@example.net'],
        'Subject: from a user\n\nhello\n',
      );
      assert.equal(sent.code, 0, sent.stderr);
      await mta.waitForLog(new RegExp(`: uid=${ids.uid} from=<${USER}>`));

      const mailq = asUser(ids, process.execPath, [sendmail, ...env, '-bp']);
      assert.equal(mailq.code, 0, mailq.stderr);
      assert.doesNotMatch(mailq.stderr, /Mail system is down/);
      assert.match(
        mailq.stdout,
        // cleanup qualifies the sender with $myorigin, as Postfix's does.
        new RegExp(
          `${USER}@mail\\.test\\.example\\n {41}someone@example\\.net\\n`,
        ),
      );

      const [queued] = mta.queueFiles('incoming');
      assert.ok(queued, 'a file in incoming/');
      const content = fs.readFileSync(queued).toString('latin1');
      assert.match(
        content,
        new RegExp(
          `Received: by mail\\.test\\.example \\(Postfix, from userid ${ids.uid}\\)`,
        ),
      );

      assert.notEqual(
        asUser(ids, 'ls', [path.join(mta.queueDir, 'maildrop')]).code,
        0,
      );
      assert.notEqual(asUser(ids, 'cat', [queued]).code, 0);
      const socket = fs.readdirSync(path.join(mta.queueDir, 'private'))[0];
      const probe = `require('net').connect(${JSON.stringify(path.join(mta.queueDir, 'private', socket))}).on('connect',()=>process.exit(0)).on('error',(e)=>{console.log(e.code);process.exit(1)})`;
      const connect = asUser(ids, process.execPath, ['-e', probe]);
      assert.equal(connect.code, 1);
      assert.match(connect.stdout, /EACCES/);
      const postsuper = path.join(DIST, 'packages', 'commands', 'postsuper.js');
      const denied = asUser(ids, process.execPath, [
        postsuper,
        '-c',
        mta.configDir,
        '-d',
        'ALL',
      ]);
      assert.equal(denied.code, 77);
      assert.match(denied.stderr, /reserved for the superuser/);
      assert.equal(mta.queueFiles('incoming').length, 1);

      // The launcher drops the caller's environment: NODE_OPTIONS cannot
      // make node load the user's code with the postdrop group.
      const evil = path.join(mta.dir, 'evil.js');
      const marker = path.join(mta.dir, 'evil-ran');
      fs.writeFileSync(
        evil,
        `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`,
      );
      fs.chmodSync(mta.dir, 0o777);
      const r = cp.spawnSync(path.join(mta.dir, 'bin', 'postqueue'), ['-p'], {
        ...ids,
        cwd: '/',
        encoding: 'utf8',
        env: { NODE_OPTIONS: `--require ${evil}`, PATH: '/usr/bin:/bin' },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!fs.existsSync(marker), 'NODE_OPTIONS reached node');
    } finally {
      await mta.destroy();
      // The user was made for this test; its group goes with it.
      cp.spawnSync('userdel', [USER], { stdio: 'ignore' });
    }
  },
);
