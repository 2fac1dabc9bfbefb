// Tests of what pgsql: and ldap: share, without a server: templates,
// key splitting, result_format, the expansion limit, RFC 4514 and 4515
// escaping and server_host parsing.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  DbConfig,
  expandOne,
  formatResult,
  joinResults,
  parseTemplate,
  splitAddress,
} from './dict_db_common';
import { DictError } from './dict';
import { DictSyntaxError } from './dict_parse';
import { escapeDnValue, escapeValue, ldapServer } from './dict_ldap';
import { hostConfig } from './dict_pgsql';

const config = new DbConfig('/etc/postfix/t.cf', 'a = 1\nb = %x\n');

const EXPAND_CASES = [
  { spec: 's', key: 'u+x@mail.example.com', want: 'u+x@mail.example.com' },
  { spec: 'u', key: 'u+x@mail.example.com', want: 'u+x' },
  { spec: 'd', key: 'u+x@mail.example.com', want: 'mail.example.com' },
  { spec: '1', key: 'u@mail.example.com', want: 'com' },
  { spec: '3', key: 'u@mail.example.com', want: 'mail' },
  { spec: '4', key: 'u@mail.example.com', want: undefined },
  { spec: 'u', key: 'plain', want: 'plain' },
  { spec: 'd', key: 'plain', want: undefined },
  { spec: '1', key: 'plain', want: undefined },
  { spec: 'u', key: '@example.com', want: undefined },
  { spec: 'd', key: 'a@b@c.example', want: 'c.example' },
  { spec: 'U', key: 'a@b.example', want: 'a' },
];

for (const c of EXPAND_CASES) {
  test(`does expand %${c.spec} of ${c.key} to ${c.want}`, () => {
    assert.equal(expandOne(c.spec, splitAddress(c.key)), c.want);
  });
}

test('does parse %% and specifiers and refuse others with the line', () => {
  assert.deepEqual(parseTemplate(config, 'a', "x%%'%s'"), [
    { kind: 'text', text: "x%'" },
    { kind: 'expand', spec: 's' },
    { kind: 'text', text: "'" },
  ]);
  assert.throws(
    () => parseTemplate(config, 'b', '%x'),
    (err: Error) =>
      err instanceof DictSyntaxError &&
      err.message === '/etc/postfix/t.cf, line 2: invalid b template: "%x"',
  );
});

const FORMAT_CASES = [
  { format: '%s', value: 'v@d.example', want: 'v@d.example' },
  { format: '%u', value: 'v@d.example', want: 'v' },
  { format: '%d', value: 'v@d.example', want: 'd.example' },
  { format: '%d', value: 'v', want: undefined },
  { format: '%u', value: '@d.example', want: undefined },
  { format: '%s', value: '', want: undefined },
  {
    format: '%S %U %D %1',
    value: 'v',
    want: 'k@key.example k key.example example',
  },
];

for (const c of FORMAT_CASES) {
  test(`does format ${JSON.stringify(c.value)} with ${c.format} as ${c.want}`, () => {
    const parts = parseTemplate(config, 'result_format', c.format);
    assert.equal(formatResult(parts, 'k@key.example', c.value), c.want);
  });
}

test('does join values with commas and fail past expansion_limit', () => {
  const dict = { type: 'pgsql', name: '/t.cf' };
  assert.equal(joinResults(dict, 2, 'k', ['a', 'b']), 'a,b');
  assert.equal(joinResults(dict, 0, 'k', []), undefined);
  assert.throws(() => joinResults(dict, 1, 'k', ['a', 'b']), DictError);
});

const FILTER_ESCAPES = [
  { value: 'a*b', want: 'a\\2ab' },
  { value: 'a(b)', want: 'a\\28b\\29' },
  { value: 'a\\b', want: 'a\\5cb' },
  { value: 'a\0b', want: 'a\\00b' },
  { value: 'ann@v.example', want: 'ann@v.example' },
];

for (const c of FILTER_ESCAPES) {
  test(`does escape ${JSON.stringify(c.value)} for a filter as ${c.want}`, () => {
    assert.equal(escapeValue(c.value), c.want);
  });
}

const DN_ESCAPES = [
  { value: 'a,b+c', want: 'a\\,b\\+c' },
  { value: '#lead', want: '\\#lead' },
  { value: ' lead', want: '\\ lead' },
  { value: 'trail ', want: 'trail\\ ' },
  { value: 'a"<>;=\\', want: 'a\\"\\<\\>\\;\\=\\\\' },
];

for (const c of DN_ESCAPES) {
  test(`does escape ${JSON.stringify(c.value)} for a DN as ${c.want}`, () => {
    assert.equal(escapeDnValue(c.value), c.want);
  });
}

const LDAP_HOSTS = [
  { host: 'ldap.example', url: 'ldap://ldap.example:389' },
  { host: 'ldap.example:1389', url: 'ldap://ldap.example:1389' },
  { host: 'ldap://ldap.example', url: 'ldap://ldap.example:389' },
  { host: 'ldaps://ldap.example', url: 'ldaps://ldap.example' },
  {
    host: 'ldapi://%2Frun%2Fslapd%2Fldapi',
    url: 'ldap://localhost',
    socket: '/run/slapd/ldapi',
  },
];

for (const c of LDAP_HOSTS) {
  test(`does connect to ${c.url} when server_host is ${c.host}`, () => {
    const server = ldapServer(config, c.host, 389);
    assert.equal(server.url, c.url);
    assert.equal(server.socketPath, c.socket);
  });
}

const PG_HOSTS = [
  { host: 'db.example', want: { host: 'db.example', port: 5432 } },
  { host: 'inet:db.example:6432', want: { host: 'db.example', port: 6432 } },
  { host: '[::1]:6432', want: { host: '::1', port: 6432 } },
  { host: 'unix:/run/postgresql', want: { host: '/run/postgresql' } },
  { host: 'unix:/run/pg/.s.PGSQL.6432', want: { host: '/run/pg', port: 6432 } },
  {
    host: 'postgresql://u@db/mail',
    want: { connectionString: 'postgresql://u@db/mail' },
  },
];

for (const c of PG_HOSTS) {
  test(`does connect to ${JSON.stringify(c.want)} when hosts is ${c.host}`, () => {
    assert.deepEqual(hostConfig(config, c.host), c.want);
  });
}
