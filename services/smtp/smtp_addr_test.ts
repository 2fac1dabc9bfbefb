// Unit tests of nexthop parsing: Postfix's [host]:port, domain:port,
// inet: and unix: forms for smtp and lmtp.

import test from 'node:test';
import assert from 'node:assert/strict';
import { LookupError, parseNexthop } from './smtp_addr';

const CASES: Array<[string, boolean, object]> = [
  [
    'example.com',
    false,
    { kind: 'inet', host: 'example.com', port: 25, mx: true },
  ],
  [
    'Example.COM:2525',
    false,
    { kind: 'inet', host: 'example.com', port: 2525, mx: true },
  ],
  [
    '[mx.example.com]',
    false,
    { kind: 'inet', host: 'mx.example.com', port: 25, mx: false },
  ],
  [
    '[192.0.2.1]:587',
    false,
    { kind: 'inet', host: '192.0.2.1', port: 587, mx: false },
  ],
  [
    '[2001:db8::1]:25',
    false,
    { kind: 'inet', host: '2001:db8::1', port: 25, mx: false },
  ],
  [
    'inet:[192.0.2.1]:smtp',
    false,
    { kind: 'inet', host: '192.0.2.1', port: 25, mx: false },
  ],
  [
    'inet:127.0.0.1:24',
    true,
    { kind: 'inet', host: '127.0.0.1', port: 24, mx: false },
  ],
  [
    'mail.example.com',
    true,
    { kind: 'inet', host: 'mail.example.com', port: 25, mx: false },
  ],
  [
    'unix:private/dovecot-lmtp',
    true,
    { kind: 'unix', host: 'private/dovecot-lmtp', port: 0, mx: false },
  ],
];

for (const [text, lmtp, want] of CASES)
  test(`does parse ${text} for ${lmtp ? 'lmtp' : 'smtp'}`, () => {
    assert.deepEqual(parseNexthop(text, 25, lmtp), want);
  });

for (const bad of ['[]', 'example.com:0', 'example.com:99999', '[x]:none'])
  test(`does refuse the nexthop ${bad} with 5.3.5`, () => {
    assert.throws(
      () => parseNexthop(bad, 25),
      (err: unknown) => err instanceof LookupError && err.dsn === '5.3.5',
    );
  });
