// smtpd's SASL AUTH end to end (TLS task point 4): a real smtpd session
// and cleanup in a temporary instance, against a private Dovecot auth
// service, with STARTTLS for smtpd_tls_auth_only.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LOG,
  startInstance,
  waitForLog,
  type Instance,
} from '../services/smtpd/smtpd_testkit';
import {
  dovecotAuthAvailable,
  startDovecotAuth,
  type DovecotAuthServer,
} from './dovecot_auth_kit';
import { makeCert, TlsLineClient, type TestCert } from './tls_kit';

const SKIP = dovecotAuthAvailable() ? false : 'needs root and dovecot';
let dovecot: DovecotAuthServer;
let certDir = '';
let cert: TestCert;

test.before(async () => {
  if (SKIP) return;
  dovecot = await startDovecotAuth({ alice: 'secret' });
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-sasl-cert-'));
  cert = makeCert(certDir);
});

test.after(async () => {
  await dovecot?.stop();
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
});

// 127.0.0.1 is kept out of mynetworks, so that only AUTH lets it relay.
function params(more: Record<string, string> = {}) {
  return {
    mynetworks: '192.0.2.0/24',
    smtpd_sasl_auth_enable: 'yes',
    smtpd_sasl_type: 'dovecot',
    smtpd_sasl_path: dovecot.socket,
    ...more,
  };
}

async function withInstance(
  p: Record<string, string>,
  body: (inst: Instance) => Promise<void>,
): Promise<void> {
  const inst = await startInstance(p);
  try {
    await body(inst);
  } finally {
    await inst.close();
  }
}

async function session(port: number): Promise<TlsLineClient> {
  const c = await TlsLineClient.connect(port);
  assert.match(await c.line(), /^220 /);
  return c;
}

async function ehlo(c: TlsLineClient): Promise<string[]> {
  c.send('EHLO client.example');
  return (await c.reply())!.map((l) => l.slice(4));
}

const PLAIN = Buffer.from('\0alice\0secret').toString('base64');
const b64 = (text: string) => Buffer.from(text).toString('base64');

test(
  'does not offer AUTH when smtpd_sasl_auth_enable is no',
  { skip: SKIP },
  () =>
    withInstance({}, async (inst) => {
      const c = await session(inst.port);
      assert.ok(!(await ehlo(c)).some((k) => k.startsWith('AUTH')));
      c.send(`AUTH PLAIN ${PLAIN}`);
      assert.equal(
        await c.line(),
        '503 5.5.1 Error: authentication not enabled',
      );
      c.close();
    }),
);

test(
  'does relay for a client that authenticated with AUTH PLAIN',
  { skip: SKIP },
  () =>
    withInstance(params(), async (inst) => {
      const from = LOG.length;
      const c = await session(inst.port);
      assert.ok((await ehlo(c)).includes('AUTH PLAIN LOGIN'));
      c.send('MAIL FROM:<alice@example.org>');
      assert.match(await c.line(), /^250 /);
      c.send('RCPT TO:<bob@elsewhere.example>');
      assert.match(await c.line(), /^454 4\.7\.1 .*Relay access denied/);
      c.send('RSET');
      assert.match(await c.line(), /^250 /);
      c.send(`AUTH PLAIN ${PLAIN}`);
      assert.equal(await c.line(), '235 2.7.0 Authentication successful');
      c.send(`AUTH PLAIN ${PLAIN}`);
      assert.equal(await c.line(), '503 5.5.1 Error: already authenticated');
      for (const cmd of [
        'MAIL FROM:<alice@example.org>',
        'RCPT TO:<bob@elsewhere.example>',
      ]) {
        c.send(cmd);
        assert.match(await c.line(), /^250 /);
      }
      c.send('DATA');
      assert.match(await c.line(), /^354 /);
      c.write('Subject: auth\r\n\r\nhello\r\n.\r\n');
      const id = (await c.line()).split(' ').pop()!;
      c.close();
      await waitForLog(
        new RegExp(
          `^${id}: client=localhost\\[127\\.0\\.0\\.1\\], sasl_method=PLAIN, sasl_username=alice$`,
        ),
        from,
      );
      const m = inst.queued.find((q) => q.queueId === id)!;
      const attrs = m.records.filter((r) => r.type === 'A').map((r) => r.data);
      for (const a of [
        'sasl_method=PLAIN',
        'sasl_username=alice',
        'log_protocol_name=ESMTPA',
      ])
        assert.ok(attrs.includes(a), `${a} not in ${attrs.join(' ')}`);
    }),
);

test('does AUTH LOGIN through 334 challenges', { skip: SKIP }, () =>
  withInstance(params(), async (inst) => {
    const c = await session(inst.port);
    await ehlo(c);
    c.send('AUTH LOGIN');
    assert.equal(await c.line(), `334 ${b64('Username:')}`);
    c.send(b64('alice'));
    assert.equal(await c.line(), `334 ${b64('Password:')}`);
    c.send(b64('secret'));
    assert.equal(await c.line(), '235 2.7.0 Authentication successful');
    c.close();
  }),
);

const REFUSALS: Array<[string, string[], string]> = [
  [
    'the client aborts',
    ['AUTH LOGIN', '*'],
    '501 5.7.0 Authentication aborted',
  ],
  [
    'the response is not base64',
    ['AUTH PLAIN !!!'],
    '501 5.5.2 Cannot decode response',
  ],
  [
    'the mechanism is unknown',
    ['AUTH CRAM-MD5'],
    '535 5.7.8 Error: authentication failed: Invalid authentication mechanism',
  ],
  ['no mechanism is given', ['AUTH'], '501 5.5.4 Syntax: AUTH mechanism'],
];

for (const [when, commands, answer] of REFUSALS) {
  test(`does refuse AUTH when ${when}`, { skip: SKIP }, () =>
    withInstance(params(), async (inst) => {
      const c = await session(inst.port);
      await ehlo(c);
      let last = '';
      for (const cmd of commands) {
        c.send(cmd);
        last = await c.line();
      }
      assert.equal(last, answer);
      c.send('RCPT TO:<bob@elsewhere.example>');
      assert.match(await c.line(), /^503 /);
      c.close();
    }),
  );
}

test('does want EHLO before AUTH', { skip: SKIP }, () =>
  withInstance(params(), async (inst) => {
    const c = await session(inst.port);
    c.send(`AUTH PLAIN ${PLAIN}`);
    assert.equal(await c.line(), '503 5.5.1 Error: send HELO/EHLO first');
    c.close();
  }),
);

test(
  'does offer AUTH only inside TLS when smtpd_tls_auth_only is yes',
  { skip: SKIP },
  () =>
    withInstance(
      params({
        smtpd_tls_auth_only: 'yes',
        smtpd_tls_security_level: 'may',
        smtpd_tls_cert_file: cert.certFile,
        smtpd_tls_key_file: cert.keyFile,
      }),
      async (inst) => {
        const c = await session(inst.port);
        assert.ok(!(await ehlo(c)).some((k) => k.startsWith('AUTH')));
        c.send(`AUTH PLAIN ${PLAIN}`);
        assert.equal(
          await c.line(),
          '538 5.7.11 Encryption required for requested authentication mechanism',
        );
        c.send('STARTTLS');
        assert.match(await c.line(), /^220 /);
        await c.startTls();
        assert.ok((await ehlo(c)).includes('AUTH PLAIN LOGIN'));
        c.send(`AUTH PLAIN ${PLAIN}`);
        assert.equal(await c.line(), '235 2.7.0 Authentication successful');
        c.close();
      },
    ),
);

const OFFERS: Array<[string, Record<string, string>, string[]]> = [
  [
    'broken_sasl_auth_clients is yes',
    { broken_sasl_auth_clients: 'yes' },
    ['AUTH PLAIN LOGIN', 'AUTH=PLAIN LOGIN'],
  ],
  [
    'smtpd_sasl_security_options forbids plaintext',
    { smtpd_sasl_security_options: 'noanonymous, noplaintext' },
    [],
  ],
];

for (const [when, more, want] of OFFERS) {
  test(`does list ${JSON.stringify(want)} when ${when}`, { skip: SKIP }, () =>
    withInstance(params(more), async (inst) => {
      const c = await session(inst.port);
      const auth = (await ehlo(c)).filter((k) => k.startsWith('AUTH'));
      assert.deepEqual(auth, want);
      c.close();
    }),
  );
}

test(
  'does not offer AUTH and warns when the auth service is down',
  { skip: SKIP },
  () =>
    withInstance(
      params({ smtpd_sasl_path: '/nonexistent/auth' }),
      async (inst) => {
        const from = LOG.length;
        const c = await session(inst.port);
        assert.ok(!(await ehlo(c)).some((k) => k.startsWith('AUTH')));
        await waitForLog(
          /^warning: SASL: Connect to \/nonexistent\/auth failed: /,
          from,
        );
        c.send(`AUTH PLAIN ${PLAIN}`);
        assert.match(await c.line(), /^535 5\.7\.8 /);
        c.send('NOOP');
        assert.match(await c.line(), /^250 /);
        c.close();
      },
    ),
);

const LOGIN_MAPS = {
  smtpd_sender_login_maps:
    'inline:{ alice@example.org=alice, @shared.example=alice }',
  smtpd_sender_restrictions: 'reject_sender_login_mismatch',
};

const MISMATCH: Array<[string, boolean, string, string]> = [
  ['alice sends as her own address', true, 'alice@example.org', '250 2.1.5 Ok'],
  [
    'alice sends as a domain she owns',
    true,
    'x@shared.example',
    '250 2.1.5 Ok',
  ],
  [
    'alice sends as an address nobody owns',
    true,
    'carol@example.org',
    '553 5.7.1 <carol@example.org>: Sender address rejected: not owned by user alice',
  ],
  [
    'a client that is not logged in sends as alice',
    false,
    'alice@example.org',
    '553 5.7.1 <alice@example.org>: Sender address rejected: not logged in',
  ],
  [
    'a client that is not logged in sends as nobody',
    false,
    'carol@example.org',
    '250 2.1.5 Ok',
  ],
];

for (const [when, login, sender, answer] of MISMATCH) {
  test(
    `does answer "${answer.slice(0, 9)}" to RCPT when ${when}`,
    { skip: SKIP },
    () =>
      withInstance(params(LOGIN_MAPS), async (inst) => {
        const c = await session(inst.port);
        await ehlo(c);
        if (login) {
          c.send(`AUTH PLAIN ${PLAIN}`);
          assert.match(await c.line(), /^235 /);
        }
        c.send(`MAIL FROM:<${sender}>`);
        assert.match(await c.line(), /^250 /);
        c.send('RCPT TO:<u@mx.example.com>');
        assert.equal(await c.line(), answer);
        c.close();
      }),
  );
}

// Last: Dovecot slows down later attempts from an address that failed.
test(
  'does answer 535 and log a warning when the password is wrong',
  { skip: SKIP },
  () =>
    withInstance(params(), async (inst) => {
      const from = LOG.length;
      const c = await session(inst.port);
      await ehlo(c);
      c.send(`AUTH PLAIN ${b64('\0alice\0wrong')}`);
      assert.equal(
        await c.line(),
        '535 5.7.8 Error: authentication failed: authentication failure',
      );
      c.close();
      await waitForLog(
        /^warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed: authentication failure$/,
        from,
      );
    }),
);
