// Tests of pgsql: tables against a real PostgreSQL that this file
// starts (db_testkit): each query and result_format expansion, quoting,
// domain filtering, failover, a server that is down, bad .cf files and
// postmap -q. Skipped, saying why, when PostgreSQL is not installed.

import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DictError, dictOpen } from './dict';
import {
  PG_DB,
  PG_PASSWORD,
  PG_USER,
  freePort,
  startPostgres,
} from './db_testkit';
import type { PgTestServer } from './db_testkit';
import { initLog } from '../log/log';

const logged: string[] = [];
initLog({
  processName: 'dict_pgsql_test',
  sinks: [(line) => logged.push(line)],
});

let server: PgTestServer | undefined;
let skip: string | false = false;
let dir = '';

const FIXTURE = `
CREATE TABLE mailbox (email text PRIMARY KEY, local text, domain text,
  maildir text, note text);
INSERT INTO mailbox VALUES
  ('ann@v.example', 'ann', 'v.example', 'v.example/ann/', NULL),
  ('bob@v.example', 'bob', 'v.example', 'v.example/bob/', ''),
  ('o''neil@v.example', 'o''neil', 'v.example', 'v.example/oneil/', NULL),
  ('carl@w.example', 'carl', 'w.example', 'w.example/carl/', 'x');
GRANT SELECT ON mailbox TO ${PG_USER};
CREATE ROLE reuse LOGIN;
GRANT SELECT ON mailbox TO reuse;
`;

before(async () => {
  const started = await startPostgres();
  if (typeof started === 'string') {
    skip = started;
    return;
  }
  server = started;
  server.psql(FIXTURE, PG_DB);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgsql-cf-'));
});

after(() => {
  server?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

let files = 0;

// A .cf file on the test server's socket with these settings over it.
function cf(settings: Record<string, string>): string {
  const all = {
    hosts: `unix:${server!.dir}/.s.PGSQL.${server!.port}`,
    user: PG_USER,
    dbname: PG_DB,
    ...settings,
  };
  const file = path.join(dir, `t${++files}.cf`);
  const text = Object.entries(all).map(([k, v]) => `${k} = ${v}\n`);
  fs.writeFileSync(file, `# test table\n${text.join('')}`);
  return file;
}

async function lookup(settings: Record<string, string>, key: string) {
  const dict = dictOpen(`pgsql:${cf(settings)}`);
  try {
    return await dict.lookup(key);
  } finally {
    dict.close();
  }
}

const BY_EMAIL = "SELECT maildir FROM mailbox WHERE email = '%s'";
// A query that fails if it is made: shows that a key was not queried.
const NEVER = "SELECT maildir FROM no_such_table WHERE x = '%s%d%u%3'";

const QUERY_CASES = [
  {
    what: '%s is the whole key',
    query: BY_EMAIL,
    key: 'ann@v.example',
    want: 'v.example/ann/',
  },
  {
    what: '%u and %d are its parts',
    query: "SELECT maildir FROM mailbox WHERE local = '%u' AND domain = '%d'",
    key: 'bob@v.example',
    want: 'v.example/bob/',
  },
  {
    what: '%u is the whole of an unqualified key',
    query: "SELECT maildir FROM mailbox WHERE local = '%u'",
    key: 'carl',
    want: 'w.example/carl/',
  },
  {
    what: '%d of an unqualified key stops the query',
    query: NEVER,
    key: 'ann',
    want: undefined,
  },
  {
    what: '%u of "@domain" stops the query',
    query: "SELECT 1 FROM no_such_table WHERE a = '%u'",
    key: '@v.example',
    want: undefined,
  },
  {
    what: '%1 %2 %3 are the labels from the right',
    query: "SELECT '%3-%2-%1'",
    key: 'a@mail.example.com',
    want: 'mail-example-com',
  },
  {
    what: 'a missing %3 stops the query',
    query: NEVER,
    key: 'a@example.com',
    want: undefined,
  },
  {
    what: '%S %U %D are %s %u %d in a query',
    query: "SELECT '%S|%U|%D'",
    key: 'a@b.example',
    want: 'a@b.example|a|b.example',
  },
  {
    what: '%% is a percent sign and rows are joined',
    query: "SELECT local FROM mailbox WHERE email LIKE '%%@%d' ORDER BY local",
    key: 'x@v.example',
    want: "ann,bob,o'neil",
  },
  {
    what: 'a quote in the key is data',
    query: BY_EMAIL,
    key: "o'neil@v.example",
    want: 'v.example/oneil/',
  },
  {
    what: 'SQL in the key is data',
    query: BY_EMAIL,
    key: "x' OR '1'='1",
    want: undefined,
  },
  {
    what: 'a backslash in the key is data',
    query: "SELECT '%s'",
    key: "a\\'b",
    want: "a\\'b",
  },
  {
    what: 'an E string keeps its escapes',
    query: "SELECT E'it\\'s %s'",
    key: 'k',
    want: "it's k",
  },
  {
    what: 'an expansion outside quotes is a parameter',
    query: 'SELECT %s::text',
    key: '1; drop table mailbox',
    want: '1; drop table mailbox',
  },
  {
    what: 'an expansion in an identifier is quoted',
    query: 'SELECT maildir AS "%u" FROM mailbox WHERE email = \'%s\'',
    key: 'ann@v.example',
    want: 'v.example/ann/',
  },
  {
    what: 'NULL and empty fields are left out',
    query: "SELECT note FROM mailbox WHERE domain = '%d'",
    key: 'x@v.example',
    want: undefined,
  },
  {
    what: 'columns come back as PostgreSQL text',
    query: 'SELECT true, 7, 1.50',
    key: 'k',
    want: 't,7,1.50',
  },
  {
    what: 'every column of every row counts',
    query: "SELECT local, domain FROM mailbox WHERE email = '%s'",
    key: 'carl@w.example',
    want: 'carl,w.example',
  },
];

for (const c of QUERY_CASES) {
  test(`does expand the query when ${c.what}`, async (t) => {
    if (skip) return t.skip(skip);
    assert.equal(await lookup({ query: c.query }, c.key), c.want);
  });
}

const FORMAT_CASES = [
  { format: '%s', value: 'ann@v.example', want: 'ann@v.example' },
  { format: 'smtp:[%s]', value: 'mx.example', want: 'smtp:[mx.example]' },
  { format: '%u', value: 'ann@v.example', want: 'ann' },
  { format: '%u', value: 'plain', want: 'plain' },
  { format: '%d', value: 'ann@v.example', want: 'v.example' },
  { format: '%d', value: 'plain', want: undefined },
  { format: '%U at %D', value: 'x', want: 'key at k.example' },
  { format: '%S/%2', value: 'x', want: 'key@k.example/k' },
  { format: '100%% %s', value: 'x', want: '100% x' },
];

for (const c of FORMAT_CASES) {
  test(`does give ${c.want} when result_format is ${c.format} and the value ${c.value}`, async (t) => {
    if (skip) return t.skip(skip);
    const settings = { query: `SELECT '${c.value}'`, result_format: c.format };
    assert.equal(await lookup(settings, 'key@k.example'), c.want);
  });
}

const DOMAIN_CASES = [
  { domain: 'v.example', key: 'ann@v.example', want: 'v.example/ann/' },
  {
    domain: 'V.Example, other.example',
    key: 'ann@v.example',
    want: 'v.example/ann/',
  },
  {
    domain: 'inline:{ v.example=yes }',
    key: 'ann@v.example',
    want: 'v.example/ann/',
  },
  { domain: 'other.example', key: 'ann@v.example', want: undefined },
  { domain: 'v.example', key: 'ann', want: undefined },
  { domain: 'v.example', key: '@v.example', want: undefined },
];

test('does read the domains of a /file/name in domain', async (t) => {
  if (skip) return t.skip(skip);
  const file = path.join(dir, 'domains');
  fs.writeFileSync(file, '# ours\nw.example\nV.EXAMPLE # and this\n');
  assert.equal(
    await lookup({ query: BY_EMAIL, domain: file }, 'ann@v.example'),
    'v.example/ann/',
  );
  assert.equal(
    await lookup({ query: NEVER, domain: file }, 'ann@x.example'),
    undefined,
  );
});

for (const c of DOMAIN_CASES) {
  test(`does ${c.want ? '' : 'not '}query ${c.key} when domain is ${c.domain}`, async (t) => {
    if (skip) return t.skip(skip);
    // Keys left out never reach the server: the query would fail.
    const query = c.want ? BY_EMAIL : NEVER;
    assert.equal(await lookup({ query, domain: c.domain }, c.key), c.want);
  });
}

test('does fail the lookup when expansion_limit is exceeded', async (t) => {
  if (skip) return t.skip(skip);
  const query = "SELECT local FROM mailbox WHERE domain = '%d'";
  const settings = { query, expansion_limit: '2' };
  await assert.rejects(lookup(settings, 'x@v.example'), DictError);
  assert.equal(
    await lookup({ ...settings, expansion_limit: '3' }, 'x@v.example'),
    "ann,bob,o'neil",
  );
});

test('does build the query from table, select_field and where_field', async (t) => {
  if (skip) return t.skip(skip);
  const settings = {
    table: 'mailbox',
    select_field: 'maildir',
    where_field: 'email',
    additional_conditions: "AND domain = 'v.example'",
  };
  assert.equal(await lookup(settings, 'ann@v.example'), 'v.example/ann/');
  assert.equal(await lookup(settings, 'carl@w.example'), undefined);
});

test('does log in with the password over TCP (inet:host:port)', async (t) => {
  if (skip) return t.skip(skip);
  const hosts = `inet:127.0.0.1:${server!.port}`;
  const settings = { hosts, password: PG_PASSWORD, query: BY_EMAIL };
  assert.equal(await lookup(settings, 'ann@v.example'), 'v.example/ann/');
  await assert.rejects(
    lookup({ ...settings, password: 'wrong' }, 'ann@v.example'),
    DictError,
  );
});

test('does fail over to the second host when the first is down', async (t) => {
  if (skip) return t.skip(skip);
  const down = await freePort();
  const hosts = `127.0.0.1:${down}, unix:${server!.dir}/.s.PGSQL.${server!.port}`;
  logged.length = 0;
  assert.equal(
    await lookup({ hosts, query: BY_EMAIL }, 'ann@v.example'),
    'v.example/ann/',
  );
  assert.ok(
    logged.some((l) => l.includes(`connect to pgsql server 127.0.0.1:${down}`)),
    logged.join('\n'),
  );
});

test('does reject with DictError when no server answers', async (t) => {
  if (skip) return t.skip(skip);
  const hosts = `127.0.0.1:${await freePort()} unix:${dir}/nothing`;
  await assert.rejects(
    lookup({ hosts, query: BY_EMAIL }, 'ann@v.example'),
    (err: Error) => {
      assert.ok(err instanceof DictError);
      assert.match(err.message, /pgsql:.*query failed/);
      return true;
    },
  );
});

test('does reject with DictError when the query is bad SQL', async (t) => {
  if (skip) return t.skip(skip);
  await assert.rejects(lookup({ query: "SELEC '%s'" }, 'k'), DictError);
});

test('does reuse one connection across lookups of a table', async (t) => {
  if (skip) return t.skip(skip);
  const dict = dictOpen(`pgsql:${cf({ user: 'reuse', query: BY_EMAIL })}`);
  for (let i = 0; i < 5; i++)
    assert.equal(await dict.lookup('ann@v.example'), 'v.example/ann/');
  const count = server!.psql(
    "SELECT count(*) FROM pg_stat_activity WHERE usename = 'reuse'",
  );
  dict.close();
  assert.equal(count.trim(), '1');
});

const BAD_FILES = [
  {
    text: 'dbname = mail\nquery SELECT 1\n',
    want: /t\d+-bad\.cf, line 2: missing '='/,
  },
  {
    text: 'dbname = mail\nquery = SELECT 1\n\nexpansion_limit = ten\n',
    want: /line 4: bad numerical configuration: expansion_limit = ten/,
  },
  {
    text: "dbname = mail\n#\nquery = SELECT '%x'\n",
    want: /line 3: invalid query template: "%x"/,
  },
  {
    text: "dbname = mail\nquery = SELECT '%s\n",
    want: /line 2: unterminated ' in query/,
  },
  { text: 'dbname = mail\n', want: /missing "query"/ },
  {
    text: 'dbname = mail\nquery = SELECT 1\ndomain = /no/such/file\n',
    want: /line 3: open \/no\/such\/file: No such file or directory/,
  },
];

for (const c of BAD_FILES) {
  test(`does name the file and line when the .cf file says ${JSON.stringify(c.text)}`, (t) => {
    if (skip) return t.skip(skip);
    const file = path.join(dir, `t${++files}-bad.cf`);
    fs.writeFileSync(file, c.text);
    assert.throws(
      () => dictOpen(`pgsql:${file}`),
      (err: Error) => {
        assert.ok(err instanceof DictError);
        assert.match(err.message, c.want);
        return true;
      },
    );
  });
}

test('does refuse a table name that is not a path', () => {
  assert.throws(
    () => dictOpen('pgsql:mysettings'),
    /pgsql:mysettings: need a configuration file path/,
  );
});

test('does answer postmap -q with exit 0 when found and 1 when not', (t) => {
  if (skip) return t.skip(skip);
  const postmap = path.join(__dirname, '..', 'commands', 'postmap.js');
  const spec = `pgsql:${cf({ query: BY_EMAIL })}`;
  const env = { ...process.env, MAIL_CONFIG: dir };
  fs.writeFileSync(path.join(dir, 'main.cf'), '');
  const found = cp.spawnSync(
    process.execPath,
    [postmap, '-q', 'ann@v.example', spec],
    { encoding: 'utf8', env, timeout: 20_000 },
  );
  assert.equal(found.stdout, 'v.example/ann/\n', found.stderr);
  assert.equal(found.status, 0);
  const missing = cp.spawnSync(
    process.execPath,
    [postmap, '-q', 'nobody@v.example', spec],
    { encoding: 'utf8', env, timeout: 20_000 },
  );
  assert.equal(missing.status, 1, missing.stderr);
  assert.equal(missing.stdout, '');
});
