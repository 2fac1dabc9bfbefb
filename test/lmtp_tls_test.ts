// Issue 5 point 3, TLS: the lmtp client reads lmtp_tls_security_level
// and its lmtp_tls_* twins as the smtp client reads smtp_tls_*. Against
// a Dovecot LMTP server that offers STARTTLS (its own configuration in a
// temporary folder) and a scripted LMTP sink that does not.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  freePort,
  message,
  queueIdOf,
  SmtpClient,
  sleep,
  startInstance,
} from './harness';
import type { Instance } from './harness';
import { dovecotAvailable } from './sink/dovecot';
import { startSink, type SmtpSink } from './sink/smtp_sink';
import { makeCert } from './tls_kit';

const SKIP = dovecotAvailable()
  ? false
  : 'needs root and dovecot (scripts/ci_packages.sh installs dovecot-lmtpd)';

let mta: Instance;
let dovecot: cp.ChildProcess | undefined;
let sink: SmtpSink;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmtp-tls-'));

function dovecotConfig(port: number): string {
  const cert = makeCert(dir, 'lmtp.test.example');
  return `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = lmtp
ssl = yes
ssl_cert = <${cert.certFile}
ssl_key = <${cert.keyFile}
listen = 127.0.0.1
mail_location = maildir:~/Maildir
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=${dir}/mail/%n
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${port}
  }
}
`;
}

async function startDovecotTls(port: number): Promise<void> {
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'mail'));
  fs.chownSync(path.join(dir, 'mail'), 65534, 65534);
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(conf, dovecotConfig(port));
  dovecot = cp.spawn('dovecot', ['-c', conf, '-F'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (fs.existsSync(path.join(dir, 'run', 'lmtp'))) return;
    await sleep(50);
  }
  throw new Error(`dovecot did not start: ${dir}/dovecot.log`);
}

test.before(async () => {
  if (SKIP) return;
  const port = await freePort();
  await startDovecotTls(port);
  sink = await startSink({ lmtp: true });
  const routes = [
    `tls.example=lmtp:inet:127.0.0.1:${port}`,
    `plain.example=lmtp:inet:127.0.0.1:${sink.port}`,
  ];
  mta = await startInstance({
    main: {
      transport_maps: `inline:{ ${routes.join(', ')} }`,
      lmtp_tls_security_level: 'encrypt',
      lmtp_tls_loglevel: '1',
    },
  });
});

test.after(async () => {
  await mta?.destroy();
  await sink?.close();
  if (dovecot && dovecot.exitCode === null) {
    const gone = new Promise((r) => dovecot!.once('exit', r));
    dovecot.kill('SIGTERM');
    await gone;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

async function submit(to: string): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const reply = await smtp.send('alice@localhost', [to], message('tls'));
  await smtp.command('QUIT');
  smtp.close();
  return queueIdOf(reply);
}

function delivered(user: string): string[] {
  const nd = path.join(dir, 'mail', user, 'Maildir', 'new');
  if (!fs.existsSync(nd)) return [];
  return fs
    .readdirSync(nd)
    .map((f) => fs.readFileSync(path.join(nd, f), 'utf8'));
}

test(
  'does deliver over STARTTLS when lmtp_tls_security_level = encrypt',
  { skip: SKIP },
  async () => {
    const id = await submit('bob@tls.example');
    await mta.waitForLog(
      new RegExp(
        `postfix/lmtp\\[\\d+\\]: ${id}: to=<bob@tls\\.example>, .*status=sent`,
      ),
    );
    assert.match(
      mta.log(),
      /postfix\/lmtp\[\d+\]: Untrusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.[23] with cipher /,
    );
    const [stored] = delivered('bob');
    assert.ok(stored, 'no message in the Maildir');
    // Dovecot names the protocol LMTPS once the session is encrypted.
    assert.match(
      stored,
      /\(using TLSv1\.[23] with cipher .*\n\s+by \S+ with LMTPS\n/,
    );
  },
);

test(
  'does defer when lmtp_tls_security_level = encrypt and the server offers no STARTTLS',
  { skip: SKIP },
  async () => {
    const id = await submit('carol@plain.example');
    await mta.waitForLog(
      new RegExp(
        `postfix/lmtp\\[\\d+\\]: ${id}: to=<carol@plain\\.example>, .*dsn=4\\.7\\.4, status=deferred \\(TLS is required, but was not offered by host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]\\)`,
      ),
    );
    assert.equal(sink.messages.length, 0);
  },
);
