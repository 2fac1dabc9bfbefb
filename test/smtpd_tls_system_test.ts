// smtpd's TLS in a whole instance started with "postfix start"
// (test/harness.ts): swaks sends through STARTTLS on the smtp port and
// through TLS from the first byte on a wrapper-mode line, as port 465's
// submissions service, and with AUTH against a private Dovecot; the mail
// is delivered and the mail log holds Postfix's TLS and SASL lines.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, startInstance, type Instance } from './harness';
import { makeCert } from './tls_kit';
import {
  dovecotAuthAvailable,
  startDovecotAuth,
  type DovecotAuthServer,
} from './dovecot_auth_kit';

const HAS_SWAKS = fs.existsSync('/usr/bin/swaks');
let mta: Instance;
let wrapperPort = 0;
let certDir = '';
let dovecot: DovecotAuthServer | null = null;

// The key is root's alone, as Postfix allows: smtpd reads it before it
// drops privileges.
test.before(async () => {
  if (!HAS_SWAKS) return;
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-tls-sys-'));
  const cert = makeCert(certDir, 'mail.test.example');
  fs.chmodSync(cert.keyFile, 0o600);
  fs.chmodSync(certDir, 0o700);
  wrapperPort = await freePort();
  if (dovecotAuthAvailable())
    dovecot = await startDovecotAuth({ alice: 'secret' });
  const sasl: Record<string, string> = dovecot
    ? {
        smtpd_sasl_auth_enable: 'yes',
        smtpd_sasl_type: 'dovecot',
        smtpd_sasl_path: dovecot.socket,
      }
    : {};
  mta = await startInstance({
    main: {
      smtpd_tls_security_level: 'may',
      smtpd_tls_cert_file: cert.certFile,
      smtpd_tls_key_file: cert.keyFile,
      smtpd_tls_loglevel: '1',
      smtpd_tls_received_header: 'yes',
      ...sasl,
    },
    master: [
      `127.0.0.1:${wrapperPort} inet n - n - - smtpd ` +
        '-o smtpd_tls_wrappermode=yes',
    ],
  });
});

test.after(async () => {
  await mta?.destroy();
  await dovecot?.stop();
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
});

function swaks(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('swaks', args, { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({
        code: err ? ((err as { code?: number }).code ?? 1) : 0,
        out: stdout + stderr,
      }),
    );
  });
}

const SENDS: Array<[string, () => number, string]> = [
  ['STARTTLS on the smtp port', () => mta.smtpPort, '--tls'],
  ['a wrapper-mode port', () => wrapperPort, '--tls-on-connect'],
];

let delivered = 0;

for (const [how, port, flag] of SENDS) {
  test(
    `does deliver mail sent through ${how}`,
    { skip: !HAS_SWAKS },
    async () => {
      const r = await swaks([
        '--server',
        '127.0.0.1',
        '--port',
        String(port()),
        flag,
        '--from',
        'a@example.org',
        '--to',
        'alice@localhost',
        '--helo',
        'swaks.example',
        '--header',
        `Subject: ${how}`,
      ]);
      assert.equal(r.code, 0, r.out);
      const box = await mta.waitForMaildir('alice', ++delivered);
      const mail = box.find((m) => m.includes(`Subject: ${how}`));
      assert.ok(mail, 'message not in the Maildir');
      assert.match(mail, /by mail\.test\.example \(\S+\) with ESMTPS id /);
      // smtpd_tls_received_header = yes: Postfix's comment lines, and no
      // trace of smtpd's attribute in the queue file's text.
      assert.match(
        mail,
        /^Received: from swaks\.example \(localhost \[127\.0\.0\.1\]\)\r?\n\t\(using TLSv1\.3 with cipher \S+ \(\d+\/\d+ bits\)\)\r?\n\t\(No client certificate requested\)\r?\n\tby /m,
      );
      await mta.waitForLog(
        /postfix\/smtpd\[\d+\]: Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.3 with cipher \S+ \(\d+\/\d+ bits\)/,
      );
    },
  );
}

test(
  'does deliver mail from a client that did AUTH PLAIN inside TLS',
  { skip: !HAS_SWAKS || !dovecotAuthAvailable() },
  async () => {
    const r = await swaks([
      '--server',
      '127.0.0.1',
      '--port',
      String(mta.smtpPort),
      '--tls',
      '--auth',
      'PLAIN',
      '--auth-user',
      'alice',
      '--auth-password',
      'secret',
      '--from',
      'a@example.org',
      '--to',
      'alice@localhost',
      '--helo',
      'swaks.example',
      '--header',
      'Subject: sasl',
    ]);
    assert.equal(r.code, 0, r.out);
    const box = await mta.waitForMaildir('alice', ++delivered);
    const mail = box.find((m) => m.includes('Subject: sasl'));
    assert.ok(mail, 'message not in the Maildir');
    assert.match(mail, / with ESMTPSA id /);
    await mta.waitForLog(
      /postfix\/smtpd\[\d+\]: \w+: client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=alice/,
    );
  },
);

// The smtp daemon reads smtp_tls_security_level from main.cf: a second
// instance relays to this one's smtp port and says STARTTLS on its own.
test(
  'does relay through STARTTLS when smtp_tls_security_level = may',
  { skip: !HAS_SWAKS },
  async () => {
    const relay = await startInstance({
      main: {
        myhostname: 'relay.test.example',
        mydestination: '',
        smtp_tls_security_level: 'may',
        smtp_tls_loglevel: '1',
        transport_maps: `inline:{ localhost=smtp:[127.0.0.1]:${mta.smtpPort} }`,
      },
    });
    try {
      const r = await swaks([
        '--server',
        '127.0.0.1',
        '--port',
        String(relay.smtpPort),
        '--from',
        'a@example.org',
        '--to',
        'alice@localhost',
        '--header',
        'Subject: relayed in TLS',
      ]);
      assert.equal(r.code, 0, r.out);
      await relay.waitForLog(
        /postfix\/smtp\[\d+\]: Untrusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.3 with cipher /,
      );
      const box = await mta.waitForMaildir('alice', ++delivered);
      const mail = box.find((m) => m.includes('Subject: relayed in TLS'));
      assert.ok(mail, 'message not in the Maildir');
      assert.match(mail, / with ESMTPS id /);
    } finally {
      await relay.destroy();
    }
  },
);
