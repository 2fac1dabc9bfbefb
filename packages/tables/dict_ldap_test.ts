// Tests of ldap: tables against a real slapd that this file starts
// (db_testkit): filter and search_base expansions with RFC 4515/4514
// escaping, result_attribute and result_format, scope, bind, limits,
// domain, failover, ldapi://, a server that is down and bad .cf files.

import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DictError, dictOpen } from './dict';
import {
  LDAP_ADMIN,
  LDAP_PASSWORD,
  LDAP_SUFFIX,
  freePort,
  startSlapd,
  type LdapTestServer,
} from './db_testkit';
import { initLog } from '../log/log';

const logged: string[] = [];
initLog({ processName: 'dict_ldap_test', sinks: [(l) => logged.push(l)] });

const PEOPLE = `ou=people,${LDAP_SUFFIX}`;

function person(uid: string, extra: string[]): string {
  return [
    `dn: uid=${uid},${PEOPLE}`,
    'objectClass: inetOrgPerson',
    'objectClass: inetLocalMailRecipient',
    `uid: ${uid}`,
    `cn: ${uid}`,
    `sn: ${uid}`,
    `mail: ${uid}@v.example`,
    `mailRoutingAddress: ${uid}@v.example`,
    ...extra,
    '',
    '',
  ].join('\n');
}

const LDIF =
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n` +
  person('ann', [
    'mailLocalAddress: info@v.example',
    'mailLocalAddress: ann@alias.example',
  ]) +
  person('bob', ['mailLocalAddress: info@v.example']);

let server: LdapTestServer | undefined;
let skip: string | false = false;
let dir = '';

before(async () => {
  const started = await startSlapd(LDIF);
  if (typeof started === 'string') skip = started;
  else server = started;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldap-cf-'));
});

after(async () => {
  await server?.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
});

let files = 0;

function cf(settings: Record<string, string>): string {
  const all = {
    server_host: server!.url,
    search_base: LDAP_SUFFIX,
    query_filter: '(mailLocalAddress=%s)',
    result_attribute: 'mailRoutingAddress',
    version: '3',
    ...settings,
  };
  const file = path.join(dir, `t${++files}.cf`);
  const text = Object.entries(all).map(([k, v]) => `${k} = ${v}\n`);
  fs.writeFileSync(file, text.join(''));
  return file;
}

async function lookup(settings: Record<string, string>, key: string) {
  const dict = dictOpen(`ldap:${cf(settings)}`);
  try {
    return await dict.lookup(key);
  } finally {
    dict.close();
  }
}

// A filter that matches every entry if it is sent: shows that a key was
// not searched for.
const ALL_IF_SENT = (term: string) => `(|(uid=*)(cn=${term}))`;

interface Case {
  what: string;
  s: Record<string, string>;
  key: string;
  want: string | undefined;
}

const CASES: Case[] = [
  {
    what: '%s is the whole key',
    s: {},
    key: 'ann@alias.example',
    want: 'ann@v.example',
  },
  {
    what: 'entries are joined with commas',
    s: {},
    key: 'info@v.example',
    want: 'ann@v.example,bob@v.example',
  },
  {
    what: '%u is the local part',
    s: { query_filter: '(uid=%u)' },
    key: 'bob@x.example',
    want: 'bob@v.example',
  },
  {
    what: '%u is an unqualified key',
    s: { query_filter: '(uid=%u)' },
    key: 'bob',
    want: 'bob@v.example',
  },
  {
    what: '%d of an unqualified key stops the search',
    s: { query_filter: ALL_IF_SENT('%d') },
    key: 'ann',
    want: undefined,
  },
  {
    what: '%1 %2 are domain labels',
    s: { query_filter: '(mail=*@%2.%1)' },
    key: 'x@v.example',
    want: 'ann@v.example,bob@v.example',
  },
  {
    what: 'a missing %3 stops the search',
    s: { query_filter: ALL_IF_SENT('%3') },
    key: 'x@v.example',
    want: undefined,
  },
  {
    what: 'a * in the key is not a wildcard',
    s: { query_filter: '(uid=%s)' },
    key: '*',
    want: undefined,
  },
  {
    what: 'parentheses in the key are data',
    s: { query_filter: '(uid=%s)' },
    key: 'ann)(uid=*',
    want: undefined,
  },
  {
    what: 'result_format rewrites values',
    s: { result_format: '%u@new.example' },
    key: 'ann@alias.example',
    want: 'ann@new.example',
  },
  {
    what: 'result_format %S %D refer to the key',
    s: { result_format: '%S via %D' },
    key: 'ann@alias.example',
    want: 'ann@alias.example via alias.example',
  },
  {
    what: 'a key expanded into search_base finds that entry',
    s: {
      search_base: `uid=%u,${PEOPLE}`,
      scope: 'base',
      query_filter: '(objectClass=*)',
    },
    key: 'ann@v.example',
    want: 'ann@v.example',
  },
  {
    what: 'a search_base from the key that does not exist is a miss',
    s: {
      search_base: `uid=%u,${PEOPLE}`,
      scope: 'base',
      query_filter: '(objectClass=*)',
    },
    key: 'nobody@v.example',
    want: undefined,
  },
  {
    what: 'a , in a key for search_base is escaped',
    s: {
      search_base: `uid=%u,${PEOPLE}`,
      scope: 'base',
      query_filter: '(objectClass=*)',
    },
    key: 'ann,ou=people@v.example',
    want: undefined,
  },
  {
    what: 'scope one does not descend',
    s: { scope: 'one' },
    key: 'ann@alias.example',
    want: undefined,
  },
  {
    what: 'scope sub descends',
    s: { scope: 'sub' },
    key: 'ann@alias.example',
    want: 'ann@v.example',
  },
  {
    what: 'bind_dn and bind_pw log in',
    s: { bind_dn: LDAP_ADMIN, bind_pw: LDAP_PASSWORD },
    key: 'ann@alias.example',
    want: 'ann@v.example',
  },
  {
    what: 'bind = no searches anonymously',
    s: { bind: 'no' },
    key: 'ann@alias.example',
    want: 'ann@v.example',
  },
  {
    what: 'the domain is listed',
    s: { domain: 'alias.example' },
    key: 'ann@alias.example',
    want: 'ann@v.example',
  },
  {
    what: 'the domain is not listed',
    s: { domain: 'other.example', query_filter: ALL_IF_SENT('%s') },
    key: 'ann@alias.example',
    want: undefined,
  },
  {
    what: 'the key has no local part for domain',
    s: { domain: 'v.example', query_filter: ALL_IF_SENT('%s') },
    key: '@v.example',
    want: undefined,
  },
  {
    what: 'size_limit is not reached',
    s: { size_limit: '2' },
    key: 'info@v.example',
    want: 'ann@v.example,bob@v.example',
  },
];

for (const c of CASES) {
  test(`does answer ${c.want} when ${c.what}`, async (t) => {
    if (skip) return t.skip(skip);
    assert.equal(await lookup(c.s, c.key), c.want);
  });
}

test('does give every value of every result_attribute', async (t) => {
  if (skip) return t.skip(skip);
  const value = await lookup(
    { result_attribute: 'uid, MAIL' },
    'ann@alias.example',
  );
  assert.deepEqual(value?.split(',').sort(), ['ann', 'ann@v.example']);
});

const FAILURES: { what: string; s: Record<string, string> }[] = [
  { what: 'bind_pw is wrong', s: { bind_dn: LDAP_ADMIN, bind_pw: 'wrong' } },
  { what: 'size_limit is exceeded', s: { size_limit: '1' } },
  { what: 'expansion_limit is exceeded', s: { expansion_limit: '1' } },
];

for (const c of FAILURES) {
  test(`does reject with DictError when ${c.what}`, async (t) => {
    if (skip) return t.skip(skip);
    await assert.rejects(lookup(c.s, 'info@v.example'), DictError);
  });
}

test('does search over ldapi:// in the server folder', async (t) => {
  if (skip) return t.skip(skip);
  const s = { server_host: server!.ldapiUrl };
  assert.equal(await lookup(s, 'ann@alias.example'), 'ann@v.example');
});

const TLS_CASES = [
  {
    what: 'start_tls without a certificate check',
    s: () => ({ start_tls: 'yes' }),
    want: 'ann@v.example',
  },
  {
    what: 'start_tls checking against tls_ca_cert_file',
    s: () => ({
      start_tls: 'yes',
      tls_require_cert: 'yes',
      tls_ca_cert_file: server!.certFile,
    }),
    want: 'ann@v.example',
  },
  {
    what: 'ldaps:// checking against tls_ca_cert_file',
    s: () => ({
      server_host: server!.tlsUrl,
      tls_require_cert: 'yes',
      tls_ca_cert_file: server!.certFile,
    }),
    want: 'ann@v.example',
  },
  {
    what: 'start_tls with a certificate no CA vouches for',
    s: () => ({ start_tls: 'yes', tls_require_cert: 'yes' }),
    want: DictError,
  },
];

for (const c of TLS_CASES) {
  test(`does ${c.want === DictError ? 'fail' : 'search'} with ${c.what}`, async (t) => {
    if (skip) return t.skip(skip);
    const result = lookup(c.s(), 'ann@alias.example');
    if (c.want === DictError) await assert.rejects(result, DictError);
    else assert.equal(await result, c.want);
  });
}

test('does use server_port for a host without a port', async (t) => {
  if (skip) return t.skip(skip);
  const s = { server_host: '127.0.0.1', server_port: String(server!.port) };
  assert.equal(await lookup(s, 'ann@alias.example'), 'ann@v.example');
});

test('does fail over to the second server_host when the first is down', async (t) => {
  if (skip) return t.skip(skip);
  const down = `ldap://127.0.0.1:${await freePort()}`;
  logged.length = 0;
  for (const bind of ['yes', 'no']) {
    const s = { server_host: `${down} ${server!.url}`, bind };
    assert.equal(await lookup(s, 'ann@alias.example'), 'ann@v.example');
  }
  assert.ok(
    logged.some((l) => l.includes(`connect to ${down}`)),
    logged.join('\n'),
  );
});

test('does reject with DictError when no server answers', async (t) => {
  if (skip) return t.skip(skip);
  const s = { server_host: `ldap://127.0.0.1:${await freePort()}` };
  await assert.rejects(lookup(s, 'ann@alias.example'), (err: Error) => {
    assert.ok(err instanceof DictError);
    assert.match(err.message, /no LDAP server is available/);
    return true;
  });
});

test('does connect again after the server closed the connection', async (t) => {
  if (skip) return t.skip(skip);
  const dict = dictOpen(`ldap:${cf({})}`);
  t.after(() => dict.close());
  assert.equal(await dict.lookup('ann@alias.example'), 'ann@v.example');
  await server!.stop();
  await assert.rejects(dict.lookup('ann@alias.example'), DictError);
  await server!.start();
  assert.equal(await dict.lookup('ann@alias.example'), 'ann@v.example');
});

const BAD_FILES = [
  {
    text: 'search_base = dc=x\nscope = wide\n',
    want: /line 2: unknown scope: "wide"/,
  },
  {
    text: 'search_base = dc=x\n\nquery_filter = (uid=%q)\n',
    want: /line 3: invalid query_filter template: "%q"/,
  },
  {
    text: 'search_base = dc=x\nbind = sasl\n',
    want: /line 2: unsupported bind method: "sasl"/,
  },
  {
    text: 'search_base = dc=x\ntimeout = soon\n',
    want: /line 2: bad numerical configuration: timeout = soon/,
  },
  { text: 'server_host = localhost\n', want: /missing "search_base"/ },
  {
    text: 'search_base = dc=x\n  continued\nbroken line\n',
    want: /line 3: missing '='/,
  },
];

for (const c of BAD_FILES) {
  test(`does name the file and line when the .cf file says ${JSON.stringify(c.text)}`, (t) => {
    if (skip) return t.skip(skip);
    const file = path.join(dir, `t${++files}-bad.cf`);
    fs.writeFileSync(file, c.text);
    assert.throws(
      () => dictOpen(`ldap:${file}`),
      (err: Error) => {
        assert.ok(err instanceof DictError);
        assert.match(err.message, c.want);
        assert.ok(err.message.includes(file), err.message);
        return true;
      },
    );
  });
}

test('does answer postmap -q with exit 0 when found and 1 when not', (t) => {
  if (skip) return t.skip(skip);
  const postmap = path.join(__dirname, '..', 'commands', 'postmap.js');
  const spec = `ldap:${cf({})}`;
  const env = { ...process.env, MAIL_CONFIG: dir };
  fs.writeFileSync(path.join(dir, 'main.cf'), '');
  const run = (key: string) =>
    cp.spawnSync(process.execPath, [postmap, '-q', key, spec], {
      encoding: 'utf8',
      env,
      timeout: 20_000,
    });
  const found = run('info@v.example');
  assert.equal(found.stdout, 'ann@v.example,bob@v.example\n', found.stderr);
  assert.equal(found.status, 0);
  const missing = run('nobody@v.example');
  assert.equal(missing.status, 1, missing.stderr);
});
