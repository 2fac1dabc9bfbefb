// smtpd's STARTTLS end to end over TCP (TLS task points 1 and 3): a
// real smtpd session and the real cleanup in a temporary instance, a
// throwaway certificate made with openssl, and a client that switches
// to TLS mid-dialogue; swaks --tls as an outside client.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LOG,
  startInstance,
  waitForLog,
  type Instance,
} from '../services/smtpd/smtpd_testkit';
import { Config } from '../packages/config/config';
import { prepareSmtpd } from '../services/smtpd/smtpd_service';
import { makeCert, TlsLineClient, type TestCert } from './tls_kit';

const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-tls-cert-'));
const CERT: TestCert = makeCert(certDir);
test.after(() => fs.rmSync(certDir, { recursive: true, force: true }));

function tlsParams(level: string, more: Record<string, string> = {}) {
  return {
    smtpd_tls_security_level: level,
    smtpd_tls_cert_file: CERT.certFile,
    smtpd_tls_key_file: CERT.keyFile,
    smtpd_tls_loglevel: '1',
    ...more,
  };
}

async function withInstance(
  params: Record<string, string>,
  body: (inst: Instance) => Promise<void>,
): Promise<void> {
  const inst = await startInstance(params);
  try {
    await body(inst);
  } finally {
    await inst.close();
  }
}

// Greeting and EHLO; the EHLO keywords.
async function ehlo(c: TlsLineClient, name = 'client.example') {
  c.send(`EHLO ${name}`);
  const lines = (await c.reply())!;
  assert.match(lines[0], /^250-mx\.example\.com/);
  return lines.map((l) => l.slice(4));
}

async function connectGreeted(port: number): Promise<TlsLineClient> {
  const c = await TlsLineClient.connect(port);
  assert.match(await c.line(), /^220 /);
  return c;
}

async function startTls(c: TlsLineClient): Promise<void> {
  c.send('STARTTLS');
  assert.equal(await c.line(), '220 2.0.0 Ready to start TLS');
  await c.startTls();
}

const OFFERS: Array<[string, Record<string, string>, boolean, string]> = [
  ['level is empty', { smtpd_tls_security_level: '' }, false, '502 5.5.1'],
  ['level is none', tlsParams('none'), false, '502 5.5.1'],
  ['level is may', tlsParams('may'), true, '220 2.0.0'],
  ['level is encrypt', tlsParams('encrypt'), true, '220 2.0.0'],
  [
    'level is empty and smtpd_use_tls is yes',
    tlsParams('', { smtpd_use_tls: 'yes' }),
    true,
    '220 2.0.0',
  ],
];

for (const [when, params, offered, answer] of OFFERS) {
  test(`does ${offered ? '' : 'not '}offer STARTTLS when ${when}`, () =>
    withInstance(params, async (inst) => {
      const c = await connectGreeted(inst.port);
      assert.equal((await ehlo(c)).includes('STARTTLS'), offered);
      c.send('STARTTLS');
      assert.ok((await c.line()).startsWith(answer));
      c.close();
    }));
}

test('does a handshake, log it and forget the session when STARTTLS succeeds', () =>
  withInstance(tlsParams('may'), async (inst) => {
    const from = LOG.length;
    const c = await connectGreeted(inst.port);
    await ehlo(c, 'before.example');
    c.send('MAIL FROM:<a@example.org>');
    assert.match(await c.line(), /^250 2\.1\.0/);
    await startTls(c);
    const line = await waitForLog(/TLS connection established/, from);
    assert.match(
      line,
      /^Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.3 with cipher TLS_\S+ \(\d+\/\d+ bits\)/,
    );
    // RFC 3207 4.2: the MAIL transaction given in plaintext is gone.
    c.send('RCPT TO:<u@mx.example.com>');
    assert.match(await c.line(), /^503 5\.5\.1 Error: need MAIL command/);
    const keywords = await ehlo(c, 'after.example');
    assert.equal(keywords.includes('STARTTLS'), false);
    c.send('STARTTLS');
    assert.equal(await c.line(), '554 5.5.1 Error: TLS already active');
    c.send('QUIT');
    assert.match(await c.line(), /^221 /);
    await waitForLog(/disconnect from .* starttls=1\/2/, from);
  }));

test('does discard what the client pipelined after STARTTLS', () =>
  withInstance(tlsParams('may'), async (inst) => {
    const from = LOG.length;
    const c = await connectGreeted(inst.port);
    await ehlo(c);
    // CVE-2011-0411: RSET in the same packet as STARTTLS.
    c.write('STARTTLS\r\nRSET\r\n');
    assert.equal(await c.line(), '220 2.0.0 Ready to start TLS');
    await c.startTls();
    c.send('EHLO again.example');
    const first = (await c.reply())!;
    assert.match(first[0], /^250-mx\.example\.com/, 'RSET answered in TLS');
    c.send('QUIT');
    assert.match(await c.line(), /^221 /);
    const done = await waitForLog(/disconnect from/, from);
    assert.doesNotMatch(done, /rset=/);
    assert.deepEqual(
      c.received.filter((l) => l.startsWith('250 2.0.0 Ok')),
      [],
    );
  }));

test('does answer 530 to mail commands before STARTTLS when level is encrypt', () =>
  withInstance(tlsParams('encrypt'), async (inst) => {
    const c = await connectGreeted(inst.port);
    await ehlo(c);
    for (const cmd of ['MAIL FROM:<a@example.org>', 'VRFY u', 'DATA']) {
      c.send(cmd);
      assert.equal(
        await c.line(),
        '530 5.7.0 Must issue a STARTTLS command first',
      );
    }
    c.send('NOOP');
    assert.match(await c.line(), /^250 /);
    await startTls(c);
    await ehlo(c);
    c.send('MAIL FROM:<a@example.org>');
    assert.match(await c.line(), /^250 2\.1\.0/);
    c.close();
  }));

// A whole message inside TLS; the Received: header says ESMTPS.
async function sendMessage(c: TlsLineClient): Promise<string> {
  for (const cmd of [
    'MAIL FROM:<a@example.org>',
    'RCPT TO:<u@mx.example.com>',
  ]) {
    c.send(cmd);
    assert.match(await c.line(), /^250 /);
  }
  c.send('DATA');
  assert.match(await c.line(), /^354 /);
  c.write('Subject: tls\r\n\r\nsecret\r\n.\r\n');
  const queued = await c.line();
  assert.match(queued, /^250 2\.0\.0 Ok: queued as \w+/);
  return queued.split(' ').pop()!;
}

function headerLines(inst: Instance, queueId: string): string[] {
  const m = inst.queued.find((q) => q.queueId === queueId)!;
  return m.records.filter((r) => r.type === 'N').map((r) => r.data);
}

function attrs(inst: Instance, queueId: string): string[] {
  const m = inst.queued.find((q) => q.queueId === queueId)!;
  return m.records.filter((r) => r.type === 'A').map((r) => r.data);
}

test('does queue mail received through TLS with ESMTPS and the TLS comment', () =>
  withInstance(
    tlsParams('may', { smtpd_tls_received_header: 'yes' }),
    async (inst) => {
      const c = await connectGreeted(inst.port);
      await ehlo(c);
      await startTls(c);
      await ehlo(c, 'tls.example');
      const id = await sendMessage(c);
      c.close();
      const headers = headerLines(inst, id).join('\n');
      assert.match(headers, /^Received: from tls\.example /);
      assert.match(headers, /with ESMTPS id /);
      assert.ok(attrs(inst, id).includes('log_protocol_name=ESMTPS'));
      // cleanup prints the comment once it knows the attribute; until
      // then smtpd's part is that the attribute reaches it.
      const comment = /\(using TLSv1\.3 with cipher \S+ \(\d+\/\d+ bits\)\)/;
      const attr = attrs(inst, id).find((a) => a.startsWith('tls_received='));
      assert.ok(
        comment.test(headers) ||
          /^tls_received=TLSv1\.3 with cipher \S+ \(\d+\/\d+ bits\)$/.test(
            attr ?? '',
          ),
        `no TLS comment in ${headers}`,
      );
    },
  ));

test('does not send the TLS comment when smtpd_tls_received_header is no', () =>
  withInstance(tlsParams('may'), async (inst) => {
    const c = await connectGreeted(inst.port);
    await ehlo(c);
    await startTls(c);
    await ehlo(c);
    const id = await sendMessage(c);
    c.close();
    assert.doesNotMatch(headerLines(inst, id).join('\n'), /\(using /);
    assert.ok(!attrs(inst, id).some((a) => a.startsWith('tls_received=')));
  }));

const LOAD_FAILS =
  /^warning: cannot load certificate and key data: .*: disabling TLS support$/;

const BROKEN: Array<[string, Record<string, string>, RegExp]> = [
  [
    'the certificate file is missing',
    { smtpd_tls_cert_file: '/nonexistent/cert.pem' },
    LOAD_FAILS,
  ],
  [
    'the key does not parse',
    { smtpd_tls_key_file: '/etc/hostname' },
    LOAD_FAILS,
  ],
  [
    'no certificate is configured',
    { smtpd_tls_cert_file: '', smtpd_tls_key_file: '' },
    /^warning: No server certs available\. TLS won't be enabled$/,
  ],
];

for (const [when, broken, warned] of BROKEN) {
  test(`does warn and not offer STARTTLS when ${when}`, async () => {
    const from = LOG.length;
    await withInstance(tlsParams('may', broken), async (inst) => {
      await waitForLog(warned, from);
      const c = await connectGreeted(inst.port);
      assert.equal((await ehlo(c)).includes('STARTTLS'), false);
      c.send('STARTTLS');
      assert.equal(
        await c.line(),
        '454 4.7.0 TLS not available due to local problem',
      );
      c.close();
    });
  });
}

test('does refuse to start when smtpd_tls_security_level is unknown', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtpd-tls-cf-'));
  try {
    fs.writeFileSync(
      path.join(dir, 'main.cf'),
      'smtpd_tls_security_level = sometimes\n',
    );
    assert.throws(
      () => prepareSmtpd(Config.load({ configDir: dir }), dir),
      /invalid smtpd_tls_security_level value: "sometimes"/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('does end the session with a log line when the handshake is bad', () =>
  withInstance(tlsParams('may'), async (inst) => {
    const from = LOG.length;
    const c = await connectGreeted(inst.port);
    await ehlo(c);
    c.send('STARTTLS');
    assert.equal(await c.line(), '220 2.0.0 Ready to start TLS');
    c.write('this is not a TLS client hello\r\n\r\n');
    assert.ok(await c.waitClosed());
    await waitForLog(
      /^SSL_accept error from localhost\[127\.0\.0\.1\]: /,
      from,
    );
    await waitForLog(/^lost connection after STARTTLS from /, from);
    await waitForLog(/^disconnect from .* starttls=0\/1/, from);
    // The process goes on serving.
    const next = await connectGreeted(inst.port);
    await ehlo(next);
    next.close();
  }));

test('does TLS from the first byte when smtpd_tls_wrappermode is yes', () =>
  withInstance(
    tlsParams('may', { smtpd_tls_wrappermode: 'yes' }),
    async (inst) => {
      const from = LOG.length;
      const c = await TlsLineClient.connect(inst.port, true);
      assert.match(await c.line(), /^220 mx\.example\.com ESMTP/);
      assert.equal((await ehlo(c)).includes('STARTTLS'), false);
      await sendMessage(c);
      c.close();
      await waitForLog(/^Anonymous TLS connection established from /, from);
    },
  ));

test('does load a key and certificate from smtpd_tls_chain_files', () =>
  withInstance(
    {
      ...tlsParams('may', { smtpd_tls_cert_file: '' }),
      smtpd_tls_chain_files: CERT.chainFile,
    },
    async (inst) => {
      const c = await connectGreeted(inst.port);
      await ehlo(c);
      await startTls(c);
      await ehlo(c);
      c.close();
    },
  ));

function swaks(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('swaks', args, { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({
        code: err ? ((err as { code?: number }).code ?? 1) : 0,
        out: stdout + stderr,
      }),
    );
  });
}

test('does take mail from swaks --tls', { skip: !hasSwaks() }, () =>
  withInstance(tlsParams('encrypt'), async (inst) => {
    const before = inst.queued.length;
    const r = await swaks([
      '--server',
      '127.0.0.1',
      '--port',
      String(inst.port),
      '--tls',
      '--from',
      'a@example.org',
      '--to',
      'u@mx.example.com',
      '--helo',
      'swaks.example',
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /TLS started/);
    assert.equal(inst.queued.length, before + 1);
  }),
);

function hasSwaks(): boolean {
  return ['/usr/bin/swaks', '/usr/local/bin/swaks'].some((p) =>
    fs.existsSync(p),
  );
}

// At encrypt the _mandatory_ list applies, at may the other one.
const VERSIONS: Array<[string, boolean]> = [
  ['may', true],
  ['encrypt', false],
];

for (const [level, works] of VERSIONS) {
  test(`does ${works ? '' : 'not '}take TLSv1.2 at ${level} when only the mandatory protocols forbid it`, () =>
    withInstance(
      tlsParams(level, { smtpd_tls_mandatory_protocols: '>=TLSv1.3' }),
      async (inst) => {
        const c = await connectGreeted(inst.port);
        await ehlo(c);
        c.send('STARTTLS');
        assert.equal(await c.line(), '220 2.0.0 Ready to start TLS');
        const handshake = c.startTls({ maxVersion: 'TLSv1.2' });
        if (works) {
          const secure = await handshake;
          assert.equal(secure.getProtocol(), 'TLSv1.2');
        } else await assert.rejects(handshake);
        c.close();
      },
    ));
}
