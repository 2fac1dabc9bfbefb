// pgsql: and ldap: tables end to end: an instance whose virtual mailbox
// domains, mailboxes and recipient access actions come from a PostgreSQL
// it starts, and whose virtual aliases come from a slapd it starts. Mail
// to a user and to an alias is delivered, an unknown user gets 550
// 5.1.1, and with the database stopped RCPT is deferred with 451.

import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  PG_DB,
  PG_USER,
  startPostgres,
  startSlapd,
  type LdapTestServer,
  type PgTestServer,
} from '../packages/tables/db_testkit';
import {
  isRoot,
  message,
  sleep,
  SmtpClient,
  startInstance,
  type Instance,
} from './harness';

const UID = isRoot() ? 5000 : process.getuid!();
const GID = isRoot() ? 5000 : process.getgid!();

const SQL = `
CREATE TABLE domains (domain text PRIMARY KEY);
INSERT INTO domains VALUES ('v.example');
CREATE TABLE mailbox (email text PRIMARY KEY, maildir text);
INSERT INTO mailbox VALUES ('ann@v.example', 'v.example/ann/');
CREATE TABLE access (address text PRIMARY KEY, action text);
INSERT INTO access VALUES ('blocked@v.example', 'REJECT no mail for you');
GRANT SELECT ON domains, mailbox, access TO ${PG_USER};
`;

const LDIF = `dn: uid=ann,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: ann
cn: Ann
sn: Ann
mailLocalAddress: info@v.example
mailRoutingAddress: ann@v.example
`;

let pg: PgTestServer | undefined;
let ldap: LdapTestServer | undefined;
let skip: string | false = false;
let dir = '';

before(async () => {
  const pgStarted = await startPostgres();
  if (typeof pgStarted === 'string') return void (skip = pgStarted);
  pg = pgStarted;
  pg.psql(SQL, PG_DB);
  const ldapStarted = await startSlapd(LDIF);
  if (typeof ldapStarted === 'string') return void (skip = ldapStarted);
  ldap = ldapStarted;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlldap-'));
  fs.chmodSync(dir, 0o755);
});

after(async () => {
  pg?.destroy();
  await ldap?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function writeCf(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o644 });
  return file;
}

function tableFiles() {
  const pgsql = [
    `hosts = unix:${pg!.dir}/.s.PGSQL.${pg!.port}`,
    `user = ${PG_USER}`,
    `dbname = ${PG_DB}`,
  ];
  return {
    domains: writeCf('pgsql-domains.cf', [
      ...pgsql,
      "query = SELECT 'virtual' FROM domains WHERE domain = '%s'",
    ]),
    mailboxes: writeCf('pgsql-mailboxes.cf', [
      ...pgsql,
      "query = SELECT maildir FROM mailbox WHERE email = '%s'",
    ]),
    access: writeCf('pgsql-access.cf', [
      ...pgsql,
      "query = SELECT action FROM access WHERE address = '%s'",
    ]),
    aliases: writeCf('ldap-aliases.cf', [
      `server_host = ${ldap!.url}`,
      'search_base = dc=example,dc=com',
      'query_filter = (mailLocalAddress=%s)',
      'result_attribute = mailRoutingAddress',
      'version = 3',
      'bind = no',
    ]),
  };
}

async function sqlLdapInstance(): Promise<Instance> {
  const base = path.join(dir, 'vmail');
  fs.mkdirSync(path.join(base, 'v.example'), { recursive: true });
  fs.chownSync(base, UID, GID);
  fs.chownSync(path.join(base, 'v.example'), UID, GID);
  const files = tableFiles();
  return startInstance({
    main: {
      virtual_mailbox_domains: `pgsql:${files.domains}`,
      virtual_mailbox_maps: `pgsql:${files.mailboxes}`,
      virtual_alias_maps: `ldap:${files.aliases}`,
      smtpd_recipient_restrictions: `check_recipient_access pgsql:${files.access}`,
      virtual_mailbox_base: base,
      virtual_uid_maps: `static:${UID}`,
      virtual_gid_maps: `static:${GID}`,
      virtual_minimum_uid: String(Math.max(1, Math.min(UID, 100))),
    },
  });
}

async function waitForMaildir(count: number, mta: Instance) {
  const box = path.join(dir, 'vmail', 'v.example', 'ann', 'new');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const names = fs.existsSync(box) ? fs.readdirSync(box) : [];
    if (names.length >= count) return names.map((n) => path.join(box, n));
    if (Date.now() > deadline) throw new Error(`no mail:\n${mta.log()}`);
    await sleep(100);
  }
}

test('does route mail with pgsql: and ldap: tables', async (t) => {
  if (skip) return t.skip(skip);
  const mta = await sqlLdapInstance();
  t.after(() => mta.destroy());
  const smtp = await SmtpClient.connect(mta.smtpPort);
  t.after(() => smtp.close());
  await smtp.reply();
  await smtp.command('EHLO client.example');

  await t.test('does deliver to a mailbox found in PostgreSQL', async () => {
    const reply = await smtp.send(
      's@test.example',
      ['ann@v.example'],
      message('to ann'),
    );
    assert.match(reply, /^250 /, mta.log());
    await waitForMaildir(1, mta);
    await mta.waitForLog(
      /to=<ann@v\.example>, relay=virtual, .*status=sent \(delivered to maildir\)/,
    );
  });

  await t.test('does deliver to an alias found in LDAP', async () => {
    const reply = await smtp.send(
      's@test.example',
      ['info@v.example'],
      message('to info'),
    );
    assert.match(reply, /^250 /, mta.log());
    await waitForMaildir(2, mta);
    await mta.waitForLog(
      /to=<ann@v\.example>, orig_to=<info@v\.example>, relay=virtual, .*status=sent/,
    );
  });

  await t.test('does apply an access action found in PostgreSQL', async () => {
    await smtp.command('MAIL FROM:<s@test.example>');
    const r = await smtp.command('RCPT TO:<blocked@v.example>');
    assert.equal(
      r,
      '554 5.7.1 <blocked@v.example>: Recipient address rejected: no mail for you',
    );
    await smtp.command('RSET');
  });

  await t.test(
    'does refuse a user in neither table with 550 5.1.1',
    async () => {
      await smtp.command('MAIL FROM:<s@test.example>');
      const r = await smtp.command('RCPT TO:<nobody@v.example>');
      assert.match(
        r,
        /^550 5\.1\.1 <nobody@v\.example>: Recipient address rejected: /,
      );
      await smtp.command('RSET');
    },
  );

  // smtpd's check answers every lookup error with its own text today.
  const POSTFIX_REPLY = '451 4.3.0 <ann@v.example>: Temporary lookup failure';
  let deferred = '';

  await t.test(
    'does defer RCPT with 451 when the database is down',
    async () => {
      pg!.stop();
      await smtp.command('MAIL FROM:<s@test.example>');
      deferred = await smtp.command('RCPT TO:<ann@v.example>');
      assert.match(deferred, /^451 4\.3\.\d /, mta.log());
      await smtp.command('RSET');
      const r = await smtp.command('NOOP');
      assert.match(r, /^250 /, 'smtpd still answers');
      await mta.waitForLog(/smtpd\[\d+\]: warning: .*pgsql:.*query failed/);
    },
  );

  await t.test(
    "does answer Postfix's 451 4.3.0 text when the database is down",
    () => assert.equal(deferred, POSTFIX_REPLY),
  );
});
