// master and the postfix command end to end: pid file and lock, child
// restart after SIGKILL, throttling, max_idle/max_use, reload without a
// refused connection, stop versus abort, start-fg, and bad configuration.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  DIST,
  isRoot,
  makeInstance,
  sleep,
  SmtpClient,
  startInstance,
  waitForPort,
  type Instance,
} from './harness';

interface Proc {
  pid: number;
  user: string;
  args: string;
}

function processes(mta: Instance): Proc[] {
  const master = mta.masterPid();
  if (!master) return [];
  const out = cp.spawnSync(
    'ps',
    ['-o', 'pid=,user=,args=', '-g', String(master)],
    {
      encoding: 'utf8',
    },
  );
  return out.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const m = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(l)!;
      return { pid: Number(m[1]), user: m[2], args: m[3] };
    });
}

function daemonPids(mta: Instance, daemon: string): number[] {
  return processes(mta)
    .filter((p) => p.args.includes(`/${daemon}/${daemon}.js`))
    .map((p) => p.pid);
}

// Whether smtpd process pid exits within a few seconds (a loaded
// machine takes its time to end a process).
async function gone(mta: Instance, pid: number): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (daemonPids(mta, 'smtpd').includes(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

async function banner(port: number): Promise<string> {
  const smtp = await SmtpClient.connect(port);
  const text = await smtp.reply();
  smtp.write('QUIT\r\n');
  await smtp.reply();
  smtp.close();
  return text;
}

test('start writes the pid file, status reports it, a second start is refused', async () => {
  const mta = await startInstance();
  try {
    const pidText = fs.readFileSync(
      path.join(mta.queueDir, 'pid', 'master.pid'),
      'utf8',
    );
    assert.match(pidText, /^ {0,31}\d+\n$/);
    assert.equal(pidText.length, 33);
    const pid = Number(pidText.trim());
    const status = mta.postfix('status');
    assert.equal(status.code, 0);
    assert.equal(
      status.stderr,
      `postfix/postfix-script: the Postfix mail system is running: PID: ${pid}\n`,
    );
    const again = mta.postfix('start');
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /fatal: the Postfix mail system is already running/,
    );
    // A master started by hand on the same queue refuses too.
    const direct = cp.spawnSync(
      process.execPath,
      [path.join(DIST, 'services', 'master', 'master.js'), '-c', mta.configDir],
      { encoding: 'utf8', timeout: 10_000 },
    );
    assert.notEqual(direct.status, 0);
    assert.match(
      mta.log(),
      /fatal: open lock file pid\/master\.pid: unable to set exclusive lock/,
    );
    assert.match(
      mta.log(),
      /postfix\/master\[\d+\]: daemon started -- version [\d.]+, configuration /,
    );
  } finally {
    await mta.destroy();
  }
});

test('start creates the queue tree with Postfix modes and owners', async () => {
  const mta = await startInstance();
  try {
    const modes: Record<string, number> = {
      maildrop: 0o730,
      public: 0o710,
      private: 0o700,
      incoming: 0o700,
      active: 0o700,
      deferred: 0o700,
      hold: 0o700,
      corrupt: 0o700,
      pid: 0o755,
    };
    for (const [dir, mode] of Object.entries(modes)) {
      const st = fs.statSync(path.join(mta.queueDir, dir));
      assert.equal(st.mode & 0o7777, mode, dir);
    }
    if (isRoot()) {
      const uid = Number(cp.execSync('id -u postfix').toString());
      const postdrop = Number(
        cp.execSync('getent group postdrop | cut -d: -f3').toString(),
      );
      const maildrop = fs.statSync(path.join(mta.queueDir, 'maildrop'));
      assert.equal(maildrop.uid, uid);
      assert.equal(maildrop.gid, postdrop);
      assert.equal(fs.statSync(path.join(mta.queueDir, 'incoming')).uid, uid);
    }
  } finally {
    await mta.destroy();
  }
});

test('a child killed with SIGKILL is logged and replaced within seconds', async () => {
  const mta = await startInstance();
  try {
    assert.match(await banner(mta.smtpPort), /^220 /);
    const [pid] = daemonPids(mta, 'smtpd');
    assert.ok(pid, 'smtpd is running');
    process.kill(pid, 'SIGKILL');
    await mta.waitForLog(
      new RegExp(
        `warning: process \\S+/smtpd/smtpd\\.js pid ${pid} killed by signal 9`,
      ),
    );
    const started = Date.now();
    assert.match(await banner(mta.smtpPort), /^220 /);
    assert.ok(Date.now() - started < 5000);
    assert.ok(!daemonPids(mta, 'smtpd').includes(pid));
  } finally {
    await mta.destroy();
  }
});

test(
  'daemons run as mail_owner when master runs as root',
  { skip: !isRoot() },
  async () => {
    const mta = await startInstance();
    try {
      await banner(mta.smtpPort);
      const procs = processes(mta);
      const master = procs.find((p) => p.args.includes('master/master.js'))!;
      const smtpd = procs.find((p) => p.args.includes('smtpd/smtpd.js'))!;
      assert.equal(master.user, 'root');
      assert.equal(smtpd.user, 'postfix');
    } finally {
      await mta.destroy();
    }
  },
);

test('a service whose child dies before serving is throttled', async () => {
  // No working reject_unauth_destination: smtpd refuses to start.
  const mta = await makeInstance({
    main: { service_throttle_time: '60s' },
    master: [
      '127.0.0.1:0 inet n - n - - smtpd -o smtpd_relay_restrictions= -o smtpd_recipient_restrictions=',
    ],
  });
  const port = await (await import('./harness')).freePort();
  const cf = path.join(mta.configDir, 'master.cf');
  fs.writeFileSync(
    cf,
    fs.readFileSync(cf, 'utf8').replace('127.0.0.1:0', `127.0.0.1:${port}`),
  );
  try {
    assert.equal(mta.postfix('start').code, 0);
    await waitForPort(port);
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await mta.waitForLog(
      /warning: \S+\/smtpd\/smtpd\.js: bad command startup -- throttling/,
    );
    socket.destroy();
    await sleep(1500);
    const spawned = (mta.log().match(/exit status 1/g) ?? []).length;
    assert.equal(spawned, 1, 'no respawn while throttled');
  } finally {
    await mta.destroy();
  }
});

test('max_use and max_idle end a child; the next client gets a new one', async () => {
  const mta = await makeInstance();
  try {
    const cf = path.join(mta.configDir, 'master.cf');
    const text = fs
      .readFileSync(cf, 'utf8')
      .replace(
        /^(127\.0\.0\.1:\d+ inet .* smtpd)$/m,
        '$1 -o max_use=3 -o max_idle=2s -o max_clients_per_process=1',
      );
    fs.writeFileSync(cf, text);
    assert.equal(mta.postfix('start').code, 0);
    await waitForPort(mta.smtpPort); // the first use
    await banner(mta.smtpPort);
    const [first] = daemonPids(mta, 'smtpd');
    assert.ok(first);
    await banner(mta.smtpPort); // the third: max_use reached
    assert.ok(await gone(mta, first), 'max_use=3 ended it');
    await banner(mta.smtpPort);
    const [second] = daemonPids(mta, 'smtpd');
    assert.ok(second && second !== first);
    await sleep(2000);
    assert.ok(await gone(mta, second), 'max_idle=2s ended it');
    assert.match(await banner(mta.smtpPort), /^220 /);
  } finally {
    await mta.destroy();
  }
});

test('reload rereads the configuration and never refuses a client', async () => {
  const mta = await startInstance();
  try {
    let refused = 0;
    let served = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          if (/^220 /.test(await banner(mta.smtpPort))) served++;
        } catch {
          refused++;
        }
      }
    })();
    const main = path.join(mta.configDir, 'main.cf');
    for (let i = 0; i < 10; i++) {
      fs.appendFileSync(
        main,
        `\nsmtpd_banner = $myhostname ESMTP reload${i}\n`,
      );
      assert.equal(mta.postfix('reload').code, 0);
      await sleep(300);
    }
    await sleep(1500);
    running = false;
    await loop;
    assert.equal(refused, 0);
    assert.ok(served > 10, `served ${served}`);
    assert.match(await banner(mta.smtpPort), /ESMTP reload9$/);
    assert.equal((mta.log().match(/reload -- version/g) ?? []).length, 10);
    // Each reload opens maillog_file again and closes the old descriptor.
    const fdDir = `/proc/${mta.masterPid()}/fd`;
    const logFds = fs
      .readdirSync(fdDir)
      .filter((fd) => readLink(path.join(fdDir, fd)) === mta.logFile);
    assert.equal(logFds.length, 1, `master holds ${logFds.length}`);
  } finally {
    await mta.destroy();
  }
});

test('stop lets a session finish; abort cuts it', async () => {
  const mta = await startInstance();
  try {
    const smtp = await SmtpClient.connect(mta.smtpPort);
    await smtp.reply();
    const stopping = cp.spawn(process.execPath, [
      path.join(DIST, 'packages', 'commands', 'postfix.js'),
      '-c',
      mta.configDir,
      'stop',
    ]);
    const stopped = new Promise((resolve) => stopping.on('exit', resolve));
    await mta.waitForLog(/terminating on signal 15/);
    assert.match(await smtp.command('EHLO still.here'), /^250-/);
    assert.equal(await smtp.command('QUIT'), '221 2.0.0 Bye');
    assert.equal(await stopped, 0);
    assert.equal(mta.postfix('status').code, 1);

    assert.equal(mta.postfix('start').code, 0);
    await waitForPort(mta.smtpPort);
    const cut = await SmtpClient.connect(mta.smtpPort);
    await cut.reply();
    assert.equal(mta.postfix('abort').code, 0);
    await sleep(500);
    assert.ok(cut.closed, 'abort closed the session');
  } finally {
    await mta.destroy();
  }
});

test('start-fg keeps master in the foreground and logs to standard output', async () => {
  const mta = await makeInstance();
  const child = cp.spawn(process.execPath, [
    path.join(DIST, 'packages', 'commands', 'postfix.js'),
    '-c',
    mta.configDir,
    'start-fg',
  ]);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  try {
    await waitForPort(mta.smtpPort);
    await banner(mta.smtpPort);
    const deadline = Date.now() + 5000;
    while (!/connect from/.test(out) && Date.now() < deadline) await sleep(100);
    assert.match(out, /postfix\/master\[\d+\]: daemon started/);
    assert.match(
      out,
      /postfix\/smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]/,
    );
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
    await mta.destroy();
  }
});

test('check and start name the file and line of a bad setting', async () => {
  const mta = await makeInstance();
  try {
    const main = path.join(mta.configDir, 'main.cf');
    const lines = fs.readFileSync(main, 'utf8').split('\n').length;
    fs.appendFileSync(
      main,
      'message_size_limit = ten\nno_such_parameter = 1\n',
    );
    for (const command of ['check', 'start']) {
      const result = mta.postfix(command);
      assert.equal(result.code, 1, command);
      assert.match(
        result.stderr,
        new RegExp(
          `postfix: fatal: ${main.replace(/[.]/g, '\\.')}, line ${lines}: ` +
            'bad numerical configuration: message_size_limit = ten',
        ),
      );
    }
    assert.equal(mta.postfix('status').code, 1);
    fs.writeFileSync(
      main,
      fs.readFileSync(main, 'utf8').replace('message_size_limit = ten\n', ''),
    );
    const ok = mta.postfix('check');
    assert.equal(ok.code, 0);
    assert.match(ok.stderr, /warning: .*unused parameter: no_such_parameter=1/);
  } finally {
    await mta.destroy();
  }
});

test('logrotate renames and compresses the log; master writes a new one', async () => {
  const mta = await startInstance();
  try {
    await banner(mta.smtpPort);
    await mta.waitForLog(/connect from/);
    assert.equal(mta.postfix('logrotate').code, 0);
    const rotated = fs
      .readdirSync(path.dirname(mta.logFile))
      .filter((f) => f.endsWith('.gz'));
    assert.equal(rotated.length, 1);
    await banner(mta.smtpPort);
    await mta.waitForLog(/connect from/);
  } finally {
    await mta.destroy();
  }
});

test('start shows why master could not start', async () => {
  const mta = await makeInstance();
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(mta.smtpPort, '127.0.0.1', r));
  try {
    const result = mta.postfix('start');
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /postfix\/master: fatal: bind 127\.0\.0\.1:\d+\/inet: /,
    );
    assert.match(result.stderr, /fatal: mail system startup failed/);
  } finally {
    busy.close();
    await mta.destroy();
  }
});

function readLink(file: string): string {
  try {
    return fs.readlinkSync(file);
  } catch {
    return ''; // a descriptor closed while we read the folder
  }
}
