// The README's install paths: scripts/embedded.sh makes and starts an
// instance in a folder of its own on 127.0.0.1:2525 that delivers to
// Maildirs there; "npm install -g ." puts the commands on PATH;
// "postfix set-permissions" restores the queue tree's modes.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  message,
  REPO,
  runCommand,
  sleep,
  SmtpClient,
  startInstance,
} from './harness';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

test('embedded.sh starts an instance on 127.0.0.1:2525 delivering to a Maildir in its folder', async (t) => {
  if (!(await portFree(2525))) return t.skip('127.0.0.1:2525 is in use');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pfts-embedded-'));
  fs.chmodSync(dir, 0o755);
  const etc = path.join(dir, 'etc');
  try {
    const out = cp.spawnSync(
      'sh',
      [path.join(REPO, 'scripts', 'embedded.sh'), dir],
      {
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
    assert.equal(out.status, 0, out.stdout + out.stderr);
    for (const line of [
      `configuration  ${etc}/main.cf`,
      `queue          ${dir}/queue`,
      `log            ${dir}/log/maillog`,
      `mailboxes      ${dir}/mail/<user>/`,
      'SMTP           127.0.0.1:2525',
    ])
      assert.ok(out.stdout.includes(line), line);
    const smtp = await SmtpClient.connect(2525);
    assert.match(await smtp.reply(), /^220 /);
    await smtp.command('EHLO me');
    assert.match(
      await smtp.send('me@localhost', ['you@localhost'], message('hi')),
      /^250 /,
    );
    await smtp.command('QUIT');
    const maildir = path.join(dir, 'mail', 'you', 'new');
    const deadline = Date.now() + 20_000;
    while (
      !(fs.existsSync(maildir) && fs.readdirSync(maildir).length) &&
      Date.now() < deadline
    )
      await sleep(100);
    assert.equal(fs.readdirSync(maildir).length, 1);
    // An ordinary user's instance must not be an open relay either.
    const main = fs.readFileSync(path.join(etc, 'main.cf'), 'utf8');
    assert.match(main, /^inet_interfaces = 127\.0\.0\.1$/m);
  } finally {
    runCommand('postfix', ['-c', etc, 'stop']);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('npm install -g . puts the commands on PATH', () => {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'pfts-global-'));
  try {
    const out = cp.spawnSync(
      'npm',
      ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', REPO],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(out.status, 0, out.stderr);
    for (const name of [
      'postfix',
      'postconf',
      'sendmail',
      'mailq',
      'postqueue',
      'postsuper',
      'postcat',
      'postmap',
      'postalias',
      'newaliases',
    ])
      assert.ok(fs.existsSync(path.join(prefix, 'bin', name)), name);
    fs.writeFileSync(path.join(prefix, 'main.cf'), '');
    const run = cp.spawnSync(
      path.join(prefix, 'bin', 'postconf'),
      ['-c', prefix, '-d', 'mail_name'],
      { encoding: 'utf8' },
    );
    assert.equal(run.stdout, 'mail_name = Postfix\n');
  } finally {
    fs.rmSync(prefix, { recursive: true, force: true });
  }
});

test('set-permissions restores the modes of the queue tree and installs the setgid programs', async () => {
  const mta = await startInstance({ start: false });
  try {
    assert.equal(mta.postfix('check').code, 0);
    fs.chmodSync(path.join(mta.queueDir, 'maildrop'), 0o777);
    fs.chmodSync(path.join(mta.queueDir, 'incoming'), 0o755);
    const check = mta.postfix('check');
    assert.match(
      check.stderr,
      /warning: .*\/maildrop: bad permissions: 0777 \(expected 0730\)/,
    );
    assert.equal(mta.postfix('set-permissions').code, 0);
    assert.equal(
      fs.statSync(path.join(mta.queueDir, 'maildrop')).mode & 0o7777,
      0o730,
    );
    assert.equal(
      fs.statSync(path.join(mta.queueDir, 'incoming')).mode & 0o7777,
      0o700,
    );
    assert.equal(mta.postfix('check').stderr, '');
    if (process.getuid?.() === 0)
      for (const name of ['postdrop', 'postqueue']) {
        const st = fs.statSync(path.join(mta.dir, 'bin', name));
        assert.equal(st.mode & 0o7777, 0o2755, name);
        assert.equal(st.uid, 0, name);
      }
  } finally {
    await mta.destroy();
  }
});
