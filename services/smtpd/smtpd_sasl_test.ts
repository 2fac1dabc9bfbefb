// Tests for the mechanism filter of smtpd_sasl_security_options: which
// of Dovecot's mechanisms EHLO may list.

import test from 'node:test';
import assert from 'node:assert/strict';
import { filterMechanisms } from './smtpd_sasl';

const DOVECOT = [
  { name: 'PLAIN', flags: ['plaintext'] },
  { name: 'login', flags: ['plaintext'] },
  { name: 'ANONYMOUS', flags: ['anonymous'] },
  { name: 'CRAM-MD5', flags: ['dictionary', 'active'] },
  { name: 'SCRAM-SHA-256', flags: ['mutual-auth'] },
  { name: 'EXTERNAL', flags: ['private'] },
];

const CASES: Array<[string[], string[]]> = [
  [[], ['PLAIN', 'LOGIN', 'ANONYMOUS', 'CRAM-MD5', 'SCRAM-SHA-256']],
  [['noanonymous'], ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256']],
  [
    ['noanonymous', 'noplaintext'],
    ['CRAM-MD5', 'SCRAM-SHA-256'],
  ],
  [
    ['nodictionary', 'noactive', 'noplaintext'],
    ['ANONYMOUS', 'SCRAM-SHA-256'],
  ],
  [['mutual_auth'], ['SCRAM-SHA-256']],
];

for (const [options, want] of CASES) {
  test(`filterMechanisms does keep ${want.join(' ')} for [${options}]`, () => {
    assert.deepEqual(filterMechanisms(DOVECOT, options), want);
  });
}
