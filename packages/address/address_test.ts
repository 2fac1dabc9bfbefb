// Tests of envelope address parsing, quoting and splitting.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  AddressError,
  externalize,
  lowerDomain,
  parsePath,
  splitAddress,
  splitExtension,
  validDomain,
} from './address';

const PATH_CASES = [
  { text: '<user@example.com>', address: 'user@example.com', routed: false },
  { text: '<>', address: '', routed: false },
  { text: 'user@example.com', address: 'user@example.com', routed: false },
  { text: '<"a b"@example.com>', address: 'a b@example.com', routed: false },
  { text: '<"a\\"b"@x.example>', address: 'a"b@x.example', routed: false },
  {
    text: '<@r1.example,@r2.example:u@x.example>',
    address: 'u@x.example',
    routed: true,
  },
  { text: '<postmaster>', address: 'postmaster', routed: false },
  { text: '<u@[192.0.2.1]>', address: 'u@[192.0.2.1]', routed: false },
  { text: '<"@"@x.example>', address: '@@x.example', routed: false },
];

for (const c of PATH_CASES) {
  test(`does parse ${c.text} into internal form`, () => {
    assert.deepEqual(parsePath(c.text), {
      address: c.address,
      routed: c.routed,
    });
  });
}

const BAD_PATHS = [
  '<a\x00b@x>',
  '<"a\tb"@x>',
  '<a b@x>',
  '<user@example.com',
  '<"open@x>',
  '<@r1:>',
  '<u@>',
];

for (const text of BAD_PATHS) {
  test(`does reject ${text} with an AddressError`, () => {
    assert.throws(() => parsePath(text), AddressError);
  });
}

const QUOTE_CASES = [
  { internal: 'user@example.com', external: 'user@example.com' },
  { internal: 'a b@example.com', external: '"a b"@example.com' },
  { internal: 'a"b@x', external: '"a\\"b"@x' },
  { internal: '@@x', external: '"@"@x' },
  { internal: 'a..b@x', external: '"a..b"@x' },
  { internal: '', external: '' },
  { internal: 'bare', external: 'bare' },
];

for (const c of QUOTE_CASES) {
  test(`does quote ${JSON.stringify(c.internal)} as ${c.external}`, () => {
    assert.equal(externalize(c.internal), c.external);
    if (c.internal)
      assert.equal(parsePath(`<${c.external}>`).address, c.internal);
  });
}

test('does split at the last "@" when the local part holds one', () => {
  assert.deepEqual(splitAddress('a@b@c.example'), {
    local: 'a@b',
    domain: 'c.example',
  });
  assert.deepEqual(splitAddress('bare'), { local: 'bare', domain: '' });
});

test('does lower-case only the domain when canonicalising', () => {
  assert.equal(lowerDomain('User@Example.COM.'), 'User@example.com');
});

const EXT_CASES = [
  { local: 'user+foo', delim: '+', base: 'user', ext: 'foo' },
  { local: 'user-foo', delim: '+-', base: 'user', ext: 'foo' },
  { local: 'user', delim: '+', base: 'user', ext: '' },
  { local: '+foo', delim: '+', base: '+foo', ext: '' },
  { local: 'mailer-daemon', delim: '-', base: 'mailer-daemon', ext: '' },
  { local: 'owner-list', delim: '-', base: 'owner-list', ext: '' },
  { local: 'list-request', delim: '-', base: 'list-request', ext: '' },
  { local: 'user+foo', delim: '', base: 'user+foo', ext: '' },
];

for (const c of EXT_CASES) {
  test(`does split ${c.local} with "${c.delim}" into ${c.base} and "${c.ext}"`, () => {
    const got = splitExtension(c.local, c.delim);
    assert.equal(got.base, c.base);
    assert.equal(got.extension, c.ext);
  });
}

test('does accept names and literals when checking domains', () => {
  assert.ok(validDomain('mail.example.com'));
  assert.ok(validDomain('[192.0.2.1]'));
  assert.ok(validDomain('[IPv6:2001:db8::1]'));
  assert.ok(!validDomain('bad..example'));
  assert.ok(!validDomain('-bad.example'));
});

test('does throw only AddressError when the path is random bytes', () => {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const alphabet = '<>@"\\:,.[]() abc\x00\xff!%';
  for (let n = 0; n < 5000; n++) {
    let text = '';
    for (let i = next() % 20; i > 0; i--)
      text += alphabet[next() % alphabet.length];
    try {
      parsePath(text);
    } catch (err) {
      assert.ok(err instanceof AddressError, `${JSON.stringify(text)}: ${err}`);
    }
  }
});
