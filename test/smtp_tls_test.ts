// The smtp client's STARTTLS end to end (TLS task points 2 and 3): our
// smtp delivery code sends to our smtpd over TCP, both with TLS set up
// from main.cf parameters and an openssl-made certificate.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../packages/config/config';
import { testRequest, writeQueueFile } from '../services/local/local_testkit';
import {
  deliverSmtpRequest,
  type SmtpOutcome,
  type SmtpSettings,
} from '../services/smtp/smtp_deliver';
import { loadClientTls } from '../services/smtp/smtp_tls';
import {
  LOG,
  startInstance,
  waitForLog,
  type Instance,
} from '../services/smtpd/smtpd_testkit';
import { makeCert, type TestCert } from './tls_kit';
import { smtpTestSettings } from './smtp_settings';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-tls-'));
const CERT: TestCert = makeCert(dir);
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function serverParams(
  level: string,
  more: Record<string, string> = {},
  cert = CERT,
) {
  return {
    smtpd_tls_security_level: level,
    smtpd_tls_cert_file: cert.certFile,
    smtpd_tls_key_file: cert.keyFile,
    smtpd_tls_loglevel: '1',
    ...more,
  };
}

// The client's TLS settings as smtp reads them from a main.cf.
function clientTls(params: Record<string, string>) {
  const cfDir = fs.mkdtempSync(path.join(dir, 'client-'));
  fs.writeFileSync(
    path.join(cfDir, 'main.cf'),
    Object.entries({ smtp_tls_loglevel: '1', ...params })
      .map(([k, v]) => `${k} = ${v}\n`)
      .join(''),
  );
  return loadClientTls(Config.load({ configDir: cfDir }));
}

function settings(tls: Record<string, string>): SmtpSettings {
  return smtpTestSettings({
    connectTimeoutMs: 3000,
    heloTimeoutMs: 3000,
    envelopeTimeoutMs: 3000,
    xferTimeoutMs: 3000,
    doneTimeoutMs: 3000,
    timeoutMs: 3000,
    cacheLimits: { idleMs: 1000, reuseMs: 1000 },
    tls: clientTls(tls),
  });
}

async function deliver(s: SmtpSettings, port: number): Promise<SmtpOutcome> {
  const m = { recipients: [{ recipient: 'u@mx.example.com' }] };
  const q = writeQueueFile(fs.mkdtempSync(path.join(dir, 'q-')), m);
  const req = { ...testRequest(q, m, 'TLSQ1'), nexthop: `[127.0.0.1]:${port}` };
  return deliverSmtpRequest(s, req, q.file);
}

async function withServer(
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

function protocolOf(inst: Instance): string | undefined {
  const attrs = inst.queued.at(-1)?.records.filter((r) => r.type === 'A');
  return attrs
    ?.find((a) => a.data.startsWith('log_protocol_name='))
    ?.data.split('=')[1];
}

const TRUST: Array<[string, Record<string, string>, string]> = [
  ['no CA file is set', { smtp_tls_security_level: 'may' }, 'Untrusted'],
  [
    'smtp_tls_CAfile holds the server certificate',
    { smtp_tls_security_level: 'may', smtp_tls_CAfile: CERT.certFile },
    'Trusted',
  ],
];

for (const [when, params, trust] of TRUST) {
  test(`does send through TLS and log ${trust} when ${when}`, () =>
    withServer(serverParams('may'), async (inst) => {
      const from = LOG.length;
      const out = await deliver(settings(params), inst.port);
      assert.equal(out.results[0].action, 'relayed', out.results[0].reason);
      const line = await waitForLog(/TLS connection established to/, from);
      assert.match(
        line,
        new RegExp(
          `^${trust} TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${inst.port}: TLSv1\\.3 with cipher TLS_\\S+ \\(\\d+/\\d+ bits\\) key-exchange \\S+ server-signature RSA-PSS \\(2048 bits\\)$`,
        ),
      );
      assert.equal(protocolOf(inst), 'ESMTPS');
    }));
}

test('does send in plaintext when smtp_tls_security_level is empty', () =>
  withServer(serverParams('may'), async (inst) => {
    const out = await deliver(settings({}), inst.port);
    assert.equal(out.results[0].action, 'relayed');
    assert.equal(protocolOf(inst), 'ESMTP');
  }));

test('does defer when level is encrypt and the server offers no TLS', () =>
  withServer({}, async (inst) => {
    const s = settings({ smtp_tls_security_level: 'encrypt' });
    const out = await deliver(s, inst.port);
    const r = out.results[0] ?? out.siteFailure;
    assert.equal(inst.queued.length, 0);
    assert.equal(r.status, '4.7.4');
    assert.match(
      r.reason,
      /TLS is required, but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]/,
    );
  }));

test('does retry in plaintext when an opportunistic handshake fails', () =>
  withServer(
    serverParams('may', { smtpd_tls_protocols: '>=TLSv1.3' }),
    async (inst) => {
      const from = LOG.length;
      const s = settings({
        smtp_tls_security_level: 'may',
        smtp_tls_protocols: '<=TLSv1.2',
      });
      const out = await deliver(s, inst.port);
      assert.equal(
        out.results[0].action,
        'relayed',
        JSON.stringify(out) + LOG.slice(from).join('\n'),
      );
      await waitForLog(/^SSL_connect error to 127\.0\.0\.1\[/, from);
      assert.equal(protocolOf(inst), 'ESMTP');
    },
  ));

test('does defer when level is encrypt and the handshake fails', () =>
  withServer(
    serverParams('may', { smtpd_tls_protocols: '>=TLSv1.3' }),
    async (inst) => {
      const s = settings({
        smtp_tls_security_level: 'encrypt',
        smtp_tls_mandatory_protocols: '<=TLSv1.2',
      });
      const out = await deliver(s, inst.port);
      const r = out.results[0] ?? out.siteFailure;
      assert.equal(r.status, '4.7.5', JSON.stringify(out));
      assert.match(r.reason, /Cannot start TLS: handshake failure/);
      assert.equal(inst.queued.length, 0);
    },
  ));

// A server that, after its 220 to STARTTLS, sends a forged reply in
// the same packet, then goes on inside TLS with real replies.
async function injectingServer(): Promise<{
  port: number;
  commands: string[];
  close(): Promise<void>;
}> {
  const commands: string[] = [];
  const context = tls.createSecureContext({
    cert: fs.readFileSync(CERT.certFile),
    key: fs.readFileSync(CERT.keyFile),
  });
  const answer = (line: string): string => {
    const verb = line.split(' ')[0].toUpperCase();
    if (verb === 'EHLO') return '250-mx.example.com\r\n250 STARTTLS\r\n';
    if (verb === 'DATA') return '354 go ahead\r\n';
    if (verb === 'QUIT') return '221 bye\r\n';
    return '250 2.0.0 Ok\r\n';
  };
  const serve = (socket: net.Socket, secure: boolean) => {
    let buffer = '';
    let inData = false;
    const onData = (d: Buffer) => {
      buffer += d.toString('latin1');
      for (let end; (end = buffer.indexOf('\r\n')) >= 0;) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            socket.write('250 2.0.0 Ok: queued as REAL1\r\n');
          }
          continue;
        }
        commands.push(`${secure ? 'tls' : 'plain'} ${line}`);
        if (!secure && /^STARTTLS$/i.test(line)) {
          socket.off('data', onData);
          socket.write('220 2.0.0 Ready to start TLS\r\n250 2.0.0 forged\r\n');
          const s = new tls.TLSSocket(socket, {
            isServer: true,
            secureContext: context,
          });
          s.on('error', () => undefined);
          return serve(s, true);
        }
        if (/^DATA$/i.test(line)) inData = true;
        socket.write(answer(line));
      }
    };
    socket.on('data', onData);
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.write('220 mx.example.com ESMTP\r\n');
    serve(socket, false);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    commands,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

test('does ignore a reply the server forged in plaintext after STARTTLS', async () => {
  const server = await injectingServer();
  try {
    const s = settings({ smtp_tls_security_level: 'encrypt' });
    const out = await deliver(s, server.port);
    assert.equal(out.results[0].action, 'relayed', out.results[0].reason);
    assert.match(out.results[0].reason, /queued as REAL1/);
    const inside = server.commands.filter((c) => c.startsWith('tls '));
    assert.match(inside[0], /^tls EHLO client\.example$/);
  } finally {
    await server.close();
  }
});

const NO_CA: Array<[string, string, string]> = [
  ['may', 'relayed', 'ESMTP'],
  ['encrypt', 'delayed', ''],
];

for (const [level, action, proto] of NO_CA) {
  test(`does warn and turn TLS off at ${level} when smtp_tls_CAfile is missing`, () =>
    withServer(serverParams('may'), async (inst) => {
      const from = LOG.length;
      const s = settings({
        smtp_tls_security_level: level,
        smtp_tls_CAfile: '/nonexistent/ca.pem',
      });
      await waitForLog(
        /^warning: smtp TLS: cannot load Certification Authority data, CAfile=\/nonexistent\/ca\.pem: ENOENT: disabling TLS support$/,
        from,
      );
      const out = await deliver(s, inst.port);
      assert.equal(out.results[0].action, action);
      if (proto) assert.equal(protocolOf(inst), proto);
      else
        assert.match(
          out.results[0].reason,
          /TLS is required, but our TLS engine is unavailable/,
        );
    }));
}

// verify: the chain must end at a CA of smtp_tls_CAfile and the
// certificate must name the host (here the nexthop [127.0.0.1]).
const IP_CERT = makeCert(dir, 'mx.example.com', 'IP:127.0.0.1');

const VERIFY: Array<[string, TestCert, string, string, string]> = [
  [
    'it names the host and is trusted',
    IP_CERT,
    IP_CERT.certFile,
    'Verified',
    'relayed',
  ],
  ['it does not name the host', CERT, CERT.certFile, 'Trusted', 'delayed'],
  ['its chain is not trusted', IP_CERT, '', 'Untrusted', 'delayed'],
];

for (const [when, server, ca, trust, action] of VERIFY) {
  test(`does ${action === 'relayed' ? 'send' : 'defer'} at verify when the certificate ${when}`, () =>
    withServer(serverParams('may', {}, server), async (inst) => {
      const from = LOG.length;
      const s = settings({
        smtp_tls_security_level: 'verify',
        ...(ca ? { smtp_tls_CAfile: ca } : {}),
      });
      const out = await deliver(s, inst.port);
      const r = out.results[0];
      assert.equal(r.action, action, r.reason);
      await waitForLog(
        new RegExp(
          `^${trust} TLS connection established to 127\\.0\\.0\\.1\\[`,
        ),
        from,
      );
      if (action === 'delayed') {
        assert.equal(r.status, '4.7.5');
        assert.match(r.reason, /Server certificate not verified/);
        assert.equal(inst.queued.length, 0);
      }
    }));
}
