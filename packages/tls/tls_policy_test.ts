// Tests for the TLS policy helpers: security levels, Postfix protocol
// lists as node:tls version ranges, cipher grades and error lines.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  cipherList,
  parseLevel,
  parseProtocols,
  securityLevel,
  TlsPolicyError,
  tlsErrorText,
  tlsReceivedLines,
} from './tls_policy';

const LEVELS: Array<[string, string]> = [
  ['', 'none'],
  ['none', 'none'],
  [' May ', 'may'],
  ['encrypt', 'encrypt'],
];

for (const [text, want] of LEVELS) {
  test(`parseLevel does read "${text}" as ${want}`, () => {
    assert.equal(parseLevel('smtpd_tls_security_level', text), want);
  });
}

test('parseLevel does refuse a level it cannot enforce', () => {
  assert.throws(
    () => parseLevel('smtpd_tls_security_level', 'verify'),
    (err: Error) =>
      err instanceof TlsPolicyError &&
      err.message === 'invalid smtpd_tls_security_level value: "verify"',
  );
});

const RANGES: Array<[string, string, string]> = [
  ['>=TLSv1', 'TLSv1', 'TLSv1.3'],
  ['!SSLv2, !SSLv3', 'TLSv1', 'TLSv1.3'],
  ['!SSLv2:!SSLv3:!TLSv1:!TLSv1.1', 'TLSv1.2', 'TLSv1.3'],
  ['>=TLSv1.2 <=TLSv1.2', 'TLSv1.2', 'TLSv1.2'],
  ['<=TLSv1.2', 'TLSv1', 'TLSv1.2'],
  ['TLSv1.2 TLSv1.3', 'TLSv1.2', 'TLSv1.3'],
  ['', 'TLSv1', 'TLSv1.3'],
];

for (const [text, min, max] of RANGES) {
  test(`parseProtocols does turn "${text}" into ${min}..${max}`, () => {
    assert.deepEqual(parseProtocols('smtpd_tls_protocols', text), {
      minVersion: min,
      maxVersion: max,
    });
  });
}

for (const bad of ['>=TLSv9', 'SSLv3', '>=TLSv1.3 <=TLSv1.2']) {
  test(`parseProtocols does refuse "${bad}"`, () => {
    assert.throws(
      () => parseProtocols('smtpd_tls_protocols', bad),
      TlsPolicyError,
    );
  });
}

test('cipherList does know Postfix grades and refuses others', () => {
  for (const grade of ['high', 'medium', 'low', 'export', 'null'])
    assert.match(cipherList('smtpd_tls_ciphers', grade), /\S/);
  assert.throws(
    () => cipherList('smtpd_tls_ciphers', 'strong'),
    TlsPolicyError,
  );
});

test('tlsErrorText does shorten an OpenSSL error to one line', () => {
  const raw =
    '80FC628E9C7F0000:error:0A000102:SSL routines:' +
    'tls_early_post_process_client_hello:unsupported protocol:' +
    '../deps/openssl/openssl/ssl/statem/statem_srvr.c:1664:\n';
  assert.equal(
    tlsErrorText(new Error(raw)),
    'error:0A000102:SSL routines::unsupported protocol',
  );
  assert.equal(
    tlsErrorText(new Error('handshake timeout')),
    'handshake timeout',
  );
});

const LEGACY: Array<[Record<string, string>, string]> = [
  [{}, 'none'],
  [{ smtpd_use_tls: 'yes' }, 'may'],
  [{ smtpd_use_tls: 'yes', smtpd_enforce_tls: 'yes' }, 'encrypt'],
  [{ smtpd_enforce_tls: 'yes' }, 'encrypt'],
  [{ smtpd_tls_security_level: 'none', smtpd_use_tls: 'yes' }, 'none'],
  [{ smtpd_tls_security_level: 'may', smtpd_enforce_tls: 'yes' }, 'may'],
];

for (const [params, want] of LEGACY) {
  test(`securityLevel does give ${want} for ${JSON.stringify(params)}`, () => {
    assert.equal(
      securityLevel((name) => params[name] ?? '', 'smtpd'),
      want,
    );
  });
}

// The clients' levels: lmtp reads its own twins and, as smtp, knows
// verify; the server does not.
const CLIENT: Array<[string, Record<string, string>, string]> = [
  ['lmtp', { lmtp_tls_security_level: 'verify' }, 'verify'],
  ['lmtp', { lmtp_use_tls: 'yes' }, 'may'],
  ['lmtp', { smtp_tls_security_level: 'encrypt' }, 'none'],
  ['smtp', { smtp_tls_security_level: 'verify' }, 'verify'],
];

for (const [prefix, params, want] of CLIENT) {
  test(`securityLevel does give ${want} for ${prefix} when ${JSON.stringify(params)}`, () => {
    assert.equal(
      securityLevel((name) => params[name] ?? '', prefix),
      want,
    );
  });
}

test('securityLevel does refuse verify for smtpd', () => {
  const params: Record<string, string> = { smtpd_tls_security_level: 'verify' };
  assert.throws(() => securityLevel((name) => params[name] ?? '', 'smtpd'));
});

test('tlsReceivedLines does give the two comment lines of Received:', () => {
  assert.deepEqual(
    tlsReceivedLines(
      'TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)',
    ),
    [
      '\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))',
      '\t(No client certificate requested)',
    ],
  );
});
