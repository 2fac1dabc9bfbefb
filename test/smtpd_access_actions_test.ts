// End to end over SMTP: the access(5) actions that smtpd hands on to
// cleanup (DISCARD, REDIRECT, BCC, PREPEND, FILTER) and WARN, from
// texthash check_*_access tables, shown in the Maildirs, the queue file
// (postcat) and the log; and receive_override_options.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Instance,
  InstanceOptions,
  message,
  queueIdOf,
  makeInstance,
  SmtpClient,
  waitForPort,
} from './harness';

const FROM = 'a@test.example';
const CLIENT = 'localhost\\[127\\.0\\.0\\.1\\]';
const TAIL = 'proto=ESMTP helo=<client\\.test\\.example>';

// An instance with table files in its etc/; "@ETC@" in a main.cf value
// stands for "texthash:<etc>/", "@DIR@" for "<etc>/".
async function withTables(
  tables: Record<string, string>,
  main: Record<string, string>,
  run: (mta: Instance) => Promise<void>,
  extra: InstanceOptions = {},
): Promise<void> {
  const mta = await makeInstance(extra);
  try {
    const etc = mta.configDir;
    for (const [name, text] of Object.entries(tables))
      fs.writeFileSync(path.join(etc, name), text);
    const lines = Object.entries(main).map(
      ([k, v]) =>
        `${k} = ${v.replace(/@ETC@/g, 'texthash:@DIR@').replace(/@DIR@/g, `${etc}/`)}\n`,
    );
    fs.appendFileSync(path.join(etc, 'main.cf'), lines.join(''));
    const started = mta.postfix('start');
    assert.equal(started.code, 0, started.stderr + mta.log());
    await waitForPort(mta.smtpPort);
    await run(mta);
  } finally {
    await mta.destroy();
  }
}

async function sendOne(
  mta: Instance,
  to: string[],
  msgText = message('access'),
  from = FROM,
): Promise<string> {
  const smtp = await SmtpClient.connect(mta.smtpPort);
  await smtp.reply();
  await smtp.command('EHLO client.test.example');
  const r = await smtp.send(from, to, msgText);
  await smtp.command('QUIT');
  return r;
}

const QUEUES = ['incoming', 'active', 'deferred', 'hold'];

function queued(mta: Instance): string[] {
  return QUEUES.flatMap((q) => mta.queueFiles(q));
}

test('does accept and discard the message when a recipient table says DISCARD', async () => {
  const tables = { rcpt_access: 'bob@localhost DISCARD\n' };
  const main = {
    smtpd_recipient_restrictions:
      'check_recipient_access @ETC@rcpt_access, permit_mynetworks, reject',
  };
  await withTables(tables, main, async (mta) => {
    const r = await sendOne(mta, ['bob@localhost', 'carol@localhost']);
    assert.match(r, /^250 2\.0\.0 Ok: queued as /);
    assert.match(
      mta.log(),
      new RegExp(
        `NOQUEUE: discard: RCPT from ${CLIENT}: <bob@localhost>: ` +
          `Recipient address triggers DISCARD action; from=<${FROM}> ` +
          `to=<bob@localhost> ${TAIL}`,
      ),
    );
    assert.deepEqual(queued(mta), []);
    // Found at the second RCPT, once the queue file is open.
    const id = queueIdOf(
      await sendOne(mta, ['eve@localhost', 'bob@localhost']),
    );
    assert.match(
      mta.log(),
      new RegExp(`${id}: discard: RCPT from ${CLIENT}: <bob@localhost>: `),
    );
    assert.deepEqual(queued(mta), []);
    await sendOne(mta, ['dave@localhost']);
    await mta.waitForMaildir('dave', 1);
    for (const user of ['bob', 'carol', 'eve'])
      assert.equal(mta.maildir(user).length, 0);
  });
});

test('does discard every message of the session when a client table says DISCARD at CONNECT', async () => {
  const tables = { client_access: '127.0.0.1 DISCARD go away quietly\n' };
  const main = {
    smtpd_delay_reject: 'no',
    smtpd_client_restrictions: 'check_client_access @ETC@client_access',
  };
  await withTables(tables, main, async (mta) => {
    const r = await sendOne(mta, ['bob@localhost']);
    assert.match(r, /^250 2\.0\.0 Ok: queued as /);
    assert.match(
      mta.log(),
      new RegExp(
        `NOQUEUE: discard: CONNECT from ${CLIENT}: <${CLIENT}>: ` +
          `Client host go away quietly; proto=SMTP`,
      ),
    );
    assert.deepEqual(queued(mta), []);
    assert.equal(mta.maildir('bob').length, 0);
  });
});

test('does deliver to the REDIRECT address alone when a sender table says so', async () => {
  const tables = { sender_access: `${FROM} REDIRECT carol@localhost\n` };
  const main = {
    smtpd_sender_restrictions: 'check_sender_access @ETC@sender_access',
  };
  await withTables(tables, main, async (mta) => {
    await sendOne(mta, ['bob@localhost', 'dave@localhost']);
    const got = await mta.waitForMaildir('carol', 1);
    assert.match(got[0], /Subject: access/);
    assert.match(
      mta.log(),
      new RegExp(
        `NOQUEUE: redirect: RCPT from ${CLIENT}: <${FROM}>: Sender address ` +
          `triggers REDIRECT carol@localhost; from=<${FROM}> ` +
          `to=<bob@localhost> ${TAIL}`,
      ),
    );
    await mta.waitForLog(/to=<carol@localhost>.*status=sent/);
    assert.equal(mta.maildir('bob').length + mta.maildir('dave').length, 0);
  });
});

test('does send a blind copy when a client table says BCC', async () => {
  const tables = { client_access: '127.0.0.1 BCC carol@localhost\n' };
  const main = {
    smtpd_client_restrictions: 'check_client_access @ETC@client_access',
  };
  await withTables(tables, main, async (mta) => {
    await sendOne(mta, ['bob@localhost']);
    await mta.waitForMaildir('bob', 1);
    const copy = await mta.waitForMaildir('carol', 1);
    assert.match(copy[0], /Subject: access/);
    assert.match(
      mta.log(),
      new RegExp(
        `bcc: RCPT from ${CLIENT}: <${CLIENT}>: Client host triggers BCC ` +
          `carol@localhost; from=<${FROM}> to=<bob@localhost> ${TAIL}`,
      ),
    );
  });
});

test('does prepend the header, keep the FILTER and log WARN text in the queue file', async () => {
  const tables = {
    rcpt_access: 'bob@localhost PREPEND X-Access: tagged  by table\n',
    sender_access: `${FROM} FILTER smtp:[127.0.0.1]:10025\n`,
    client_access: '127.0.0.1 WARN client looks odd\n',
  };
  const main = {
    smtpd_client_restrictions: 'check_client_access @ETC@client_access',
    smtpd_sender_restrictions: 'check_sender_access @ETC@sender_access',
    smtpd_recipient_restrictions:
      'check_recipient_access @ETC@rcpt_access, permit_mynetworks, reject',
  };
  const extra = { without: ['qmgr'] };
  await withTables(
    tables,
    main,
    async (mta) => {
      const id = queueIdOf(await sendOne(mta, ['bob@localhost']));
      const [file] = mta.queueFiles('incoming');
      const shown = mta.command('postcat', [file]).stdout;
      if (process.env.SHOW) console.log(shown, mta.log());
      assert.match(shown, /content_filter: smtp:\[127\.0\.0\.1\]:10025/);
      const headers = shown.split('*** MESSAGE CONTENTS')[1] ?? '';
      assert.match(headers, /^Received: [^]*?\nX-Access: tagged  by table\n/m);
      const log = mta.log();
      assert.match(
        log,
        new RegExp(
          `NOQUEUE: warn: RCPT from ${CLIENT}: client looks odd; ` +
            `from=<${FROM}> to=<bob@localhost> ${TAIL}`,
        ),
      );
      assert.match(
        log,
        new RegExp(
          `filter: RCPT from ${CLIENT}: <${FROM}>: Sender address triggers ` +
            `FILTER smtp:\\[127\\.0\\.0\\.1\\]:10025;`,
        ),
      );
      assert.ok(id);
    },
    extra,
  );
});

// Both entry points: SMTP (smtpd) and sendmail (pickup).
test('does skip virtual_alias_maps with no_address_mappings', async () => {
  const tables = { virtual: 'bob@localhost carol@localhost\n' };
  for (const override of ['', 'no_address_mappings']) {
    const main = {
      virtual_alias_maps: '@ETC@virtual',
      receive_override_options: override,
    };
    await withTables(tables, main, async (mta) => {
      await sendOne(mta, ['bob@localhost']);
      const r = mta.command('sendmail', ['bob@localhost'], message('local'));
      assert.equal(r.code, 0, r.stderr);
      const user = override ? 'bob' : 'carol';
      const got = await mta.waitForMaildir(user, 2);
      assert.ok(got.some((m) => /Subject: local/.test(m)));
      assert.equal(mta.maildir(override ? 'carol' : 'bob').length, 0);
    });
  }
});

test('does skip header_checks with no_header_body_checks', async () => {
  const tables = { header_checks: '/^Subject: spam/ REJECT no spam\n' };
  for (const override of ['', 'no_header_body_checks']) {
    const main = {
      header_checks: 'regexp:@DIR@header_checks',
      receive_override_options: override,
    };
    await withTables(tables, main, async (mta) => {
      const smtp = await SmtpClient.connect(mta.smtpPort);
      await smtp.reply();
      await smtp.command('EHLO client.test.example');
      await smtp.command(`MAIL FROM:<${FROM}>`);
      await smtp.command('RCPT TO:<bob@localhost>');
      await smtp.command('DATA');
      smtp.write(message('spam') + '.\r\n');
      const r = await smtp.reply();
      await smtp.command('QUIT');
      if (!override) return assert.match(r, /^550 5\.7\.1 no spam/);
      assert.match(r, /^250 /);
      const got = await mta.waitForMaildir('bob', 1);
      assert.match(got[0], /Subject: spam/);
    });
  }
});

test('does accept unknown local users with no_unknown_recipient_checks', async () => {
  const tables = { local_users: 'bob x\n' };
  for (const override of ['', 'no_unknown_recipient_checks']) {
    const main = {
      local_recipient_maps: '@ETC@local_users',
      receive_override_options: override,
    };
    await withTables(tables, main, async (mta) => {
      const smtp = await SmtpClient.connect(mta.smtpPort);
      await smtp.reply();
      await smtp.command('EHLO client.test.example');
      await smtp.command(`MAIL FROM:<${FROM}>`);
      const r = await smtp.command('RCPT TO:<nobody@localhost>');
      await smtp.command('QUIT');
      assert.match(r, override ? /^250 / : /^550 5\.1\.1 /);
    });
  }
});

// pickup reads receive_override_options with master.cf's -o overrides,
// as every daemon reads its parameters.
test('does honour receive_override_options given to pickup in master.cf', async () => {
  const mta = await makeInstance({ start: false });
  try {
    const etc = mta.configDir;
    fs.writeFileSync(
      path.join(etc, 'virtual'),
      'bob@localhost carol@localhost\n',
    );
    fs.appendFileSync(
      path.join(etc, 'main.cf'),
      `virtual_alias_maps = texthash:${etc}/virtual\n`,
    );
    const cf = path.join(etc, 'master.cf');
    const text = fs.readFileSync(cf, 'utf8');
    const edited = text.replace(
      /^(pickup\s.*\spickup)$/m,
      '$1 -o receive_override_options=no_address_mappings',
    );
    assert.notEqual(edited, text, 'master.cf has a pickup line');
    fs.writeFileSync(cf, edited);
    const started = mta.postfix('start');
    assert.equal(started.code, 0, started.stderr + mta.log());
    await waitForPort(mta.smtpPort);
    const r = mta.command('sendmail', ['bob@localhost'], message('local'));
    assert.equal(r.code, 0, r.stderr);
    await mta.waitForMaildir('bob', 1);
    assert.equal(mta.maildir('carol').length, 0);
  } finally {
    await mta.destroy();
  }
});

// Postfix tells a table that cannot answer now (DICT_ERR_RETRY: 451 4.3.0
// Temporary lookup failure) from one that cannot be opened at all
// (DICT_ERR_CONFIG: 451 4.3.5 Server configuration error).
const LOOKUP_FAILURES: Array<[string, string, RegExp]> = [
  [
    'pgsql table whose server is down',
    'pgsql:@DIR@down.cf',
    /^451 4\.3\.0 <bob@localhost>: Temporary lookup failure/,
  ],
  [
    'hash table that does not exist',
    'hash:@DIR@missing',
    /^451 4\.3\.5 Server configuration error/,
  ],
];

for (const [what, table, want] of LOOKUP_FAILURES) {
  test(`smtpd does answer RCPT as Postfix does for a ${what}`, async () => {
    // Port 1 on loopback: nothing listens there, the connect is refused.
    const down = 'hosts = 127.0.0.1:1\ndbname = mail\nquery = SELECT 1\n';
    await withTables(
      { 'down.cf': down },
      {
        smtpd_recipient_restrictions: `check_recipient_access ${table}, permit_mynetworks, reject_unauth_destination`,
      },
      async (mta) => {
        const smtp = await SmtpClient.connect(mta.smtpPort);
        await smtp.reply();
        await smtp.command('EHLO client.test.example');
        await smtp.command(`MAIL FROM:<${FROM}>`);
        const rcpt = await smtp.command('RCPT TO:<bob@localhost>');
        assert.match(rcpt, want);
        // smtpd keeps serving after the failure.
        assert.match(await smtp.command('NOOP'), /^250 /);
        smtp.close();
      },
    );
  });
}
