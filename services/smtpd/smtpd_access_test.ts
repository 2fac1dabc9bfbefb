// Tests for access(5) lookups in smtpd: the key order and the actions.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  accessAction,
  addressKeys,
  clientKeys,
  heloKeys,
} from './smtpd_access';

const keys = (list: Array<{ key: string }>) => list.map((k) => k.key);

test('addressKeys does try the address, the domain and parents, then user@', () => {
  assert.deepEqual(keys(addressKeys('Bob@Mail.Example.COM', '<>')), [
    'bob@mail.example.com',
    'mail.example.com',
    'example.com',
    'com',
    'bob@',
  ]);
});

test('addressKeys does use smtpd_null_access_lookup_key for the null sender', () => {
  assert.deepEqual(keys(addressKeys('', '<>')), ['<>']);
});

test('clientKeys does try the name and parents, then the address and its prefixes', () => {
  assert.deepEqual(keys(clientKeys('mx.example.net', '192.0.2.7')), [
    'mx.example.net',
    'example.net',
    'net',
    '192.0.2.7',
    '192.0.2',
    '192.0',
    '192',
  ]);
  assert.deepEqual(keys(clientKeys('unknown', '2001:db8::1')), [
    '2001:db8::1',
    '2001:db8:',
    '2001:db8',
    '2001',
  ]);
});

test('heloKeys does try the name and its parents', () => {
  assert.deepEqual(keys(heloKeys('a.b.example')), [
    'a.b.example',
    'b.example',
    'example',
  ]);
});

const SUBJECT = { klass: 'Sender address', value: 'x@bad.example' };
const CODES = { rejectCode: 554, deferCode: 450 };
const ACTIONS: Array<[string, string]> = [
  ['OK', 'permit'],
  ['permit', 'permit'],
  ['DUNNO', 'dunno'],
  [
    'REJECT',
    '554 5.7.1 <x@bad.example>: Sender address rejected: Access denied',
  ],
  [
    'REJECT go away',
    '554 5.7.1 <x@bad.example>: Sender address rejected: go away',
  ],
  ['DEFER later', '450 4.7.1 <x@bad.example>: Sender address rejected: later'],
  [
    '550 5.7.0 no thanks',
    '550 5.7.0 <x@bad.example>: Sender address rejected: no thanks',
  ],
  ['450 busy', '450 4.7.1 <x@bad.example>: Sender address rejected: busy'],
  ['HOLD', 'hold'],
  ['DISCARD', 'discard'],
  ['restriction_class_x', 'unsupported'],
];

for (const [action, want] of ACTIONS) {
  test(`accessAction does give "${want}" for "${action}"`, () => {
    const got = accessAction(action, SUBJECT, CODES);
    const r = got.reply;
    assert.equal(r ? `${r.code} ${r.dsn} ${r.text}` : got.kind, want);
  });
}

// The actions smtpd carries out itself: kind and the text after the word,
// with the value's own spacing kept for a PREPEND header.
const TEXT_ACTIONS: Array<[string, string, string]> = [
  ['DISCARD spam source', 'discard', 'spam source'],
  ['filter smtp:[127.0.0.1]:10025', 'filter', 'smtp:[127.0.0.1]:10025'],
  ['REDIRECT x@y.example', 'redirect', 'x@y.example'],
  ['BCC archive@y.example', 'bcc', 'archive@y.example'],
  ['PREPEND X-Tag:  a  b', 'prepend', 'X-Tag:  a  b'],
  ['WARN odd client', 'warn', 'odd client'],
  ['INFO noted', 'info', 'noted'],
];

for (const [action, kind, text] of TEXT_ACTIONS) {
  test(`accessAction does give ${kind} with its text for "${action}"`, () => {
    const got = accessAction(action, SUBJECT, CODES);
    assert.deepEqual([got.kind, got.text], [kind, text]);
  });
}
