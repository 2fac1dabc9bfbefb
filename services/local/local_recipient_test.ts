// The local decision order on real files, with passwd-less users in a
// spool Maildir (local_delivery_without_passwd): aliases, extensions,
// owner- aliases, :include:, files, commands, loops and unknown users.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deliverRecipient } from './local_recipient';
import { getpwnam } from './local_user';
import type { AliasTable, DeliveryAttr, LocalSettings } from './local_state';
import {
  maildirMessages,
  memoryAliases,
  removeDir,
  tempDir,
  testContext,
  testMessage,
  writeQueueFile,
  type TestMessage,
} from './local_testkit';

function topAttr(recipient: string): DeliveryAttr {
  return {
    recipient,
    origRecipient: recipient,
    delivered: recipient,
    sender: 'alice@example.com',
    owner: '',
    level: 0,
    origin: 'recipient',
    expFrom: '',
    rights: null,
    unmatched: '',
  };
}

interface Run {
  dir: string;
  spool: string;
  log: Array<{
    recipient: string;
    status: string;
    dsn: string;
    reason: string;
  }>;
  forwards: Array<{ address: string; sender: string }>;
  box(user: string): string[];
}

async function run(
  recipient: string,
  aliases: (dir: string) => AliasTable[],
  settings: Partial<LocalSettings> = {},
  message: TestMessage = {},
  check: (r: Run) => void,
): Promise<void> {
  const dir = tempDir();
  const spool = path.join(dir, 'spool') + '/';
  fs.mkdirSync(spool);
  const q = writeQueueFile(dir, message);
  const msg = testMessage(q);
  try {
    const ctx = testContext(
      msg,
      {
        withoutPasswd: true,
        mailSpoolDirectory: spool,
        recipientDelimiter: '+',
        ...settings,
      },
      aliases(dir),
    );
    await deliverRecipient(ctx, topAttr(recipient));
    check({
      dir,
      spool,
      log: ctx.log.map((l) => ({ recipient: l.recipient, ...l.outcome })),
      forwards: ctx.forwards.map((f) => ({
        address: f.address,
        sender: f.attr.sender,
      })),
      box: (user) => maildirMessages(path.join(spool, user)),
    });
  } finally {
    fs.closeSync(msg.fd);
    removeDir(dir);
  }
}

// A directory that default_privs (nobody) may write in.
function publicDir(dir: string): string {
  const pub = path.join(dir, 'pub');
  fs.mkdirSync(pub, { mode: 0o1777 });
  fs.chmodSync(pub, 0o1777);
  return pub;
}

const MAILDIR = {
  status: 'sent',
  dsn: '2.0.0',
  reason: 'delivered to maildir',
};

test('does deliver to the spool Maildir when the user has no passwd entry', async () => {
  await run(
    'tbob@localhost',
    () => [],
    {},
    {},
    (r) => {
      assert.deepEqual(r.log, [{ recipient: 'tbob@localhost', ...MAILDIR }]);
      const text = r.box('tbob')[0];
      assert.ok(text.includes('\nDelivered-To: tbob@localhost\n'));
    },
  );
});

test('does bounce 5.1.1 when the user is unknown and passwd is required', async () => {
  await run(
    'tnobody@localhost',
    () => [],
    { withoutPasswd: false },
    {},
    (r) => {
      assert.deepEqual(r.log, [
        {
          recipient: 'tnobody@localhost',
          status: 'bounced',
          dsn: '5.1.1',
          reason: 'unknown user: "tnobody"',
        },
      ]);
    },
  );
});

test('does send unknown users to luser_relay', async () => {
  const settings = { withoutPasswd: false, luserRelay: '$user-relay' };
  const aliases = () => [memoryAliases({ 'tnobody-relay': '/dev/null' })];
  await run('tnobody@localhost', aliases, settings, {}, (r) => {
    assert.equal(r.log[0].reason, 'delivered to file: /dev/null');
  });
});

test('does expand an alias to each user with to= the address delivered', async () => {
  const aliases = () => [memoryAliases({ team: 'tbob, tcarol@localhost' })];
  await run('team@localhost', aliases, {}, {}, (r) => {
    assert.deepEqual(r.log, [
      { recipient: 'tbob@localhost', ...MAILDIR },
      { recipient: 'tcarol@localhost', ...MAILDIR },
    ]);
    assert.equal(r.box('tbob').length, 1);
    assert.equal(r.box('tcarol').length, 1);
    assert.ok(r.box('tcarol')[0].includes('\nDelivered-To: team@localhost\n'));
  });
});

test('does look up user+ext before user and pass the extension on', async () => {
  const aliases = () => [memoryAliases({ 'list+a': 'tdave', list: 'tbob' })];
  const settings = { propagateUnmatchedExtensions: ['alias'] };
  await run('list+a@localhost', aliases, settings, {}, (r) => {
    assert.deepEqual(
      r.log.map((l) => l.recipient),
      ['tdave@localhost'],
    );
  });
  await run('list+zz@localhost', aliases, settings, {}, (r) => {
    assert.deepEqual(
      r.log.map((l) => l.recipient),
      ['tbob+zz@localhost'],
    );
    assert.equal(r.box('tbob').length, 1);
  });
  await run('list+zz@localhost', aliases, {}, {}, (r) => {
    assert.deepEqual(
      r.log.map((l) => l.recipient),
      ['tbob@localhost'],
    );
  });
});

test('does deliver to the mailbox when an alias lists its own name', async () => {
  const aliases = (dir: string) => [
    memoryAliases({ tbob: `tbob, ${publicDir(dir)}/copy` }),
  ];
  await run('tbob@localhost', aliases, {}, {}, (r) => {
    assert.deepEqual(
      r.log.map((l) => l.reason),
      ['delivered to maildir', `delivered to file: ${r.dir}/pub/copy`],
    );
    const copy = fs.readFileSync(`${r.dir}/pub/copy`, 'utf8');
    assert.match(copy, /^From alice@/);
  });
});

test('does deliver \\user from an alias to the mailbox only', async () => {
  const aliases = () => [memoryAliases({ tbob: '\\tbob, tcarol' })];
  await run('tbob@localhost', aliases, {}, {}, (r) => {
    assert.deepEqual(
      r.log.map((l) => l.recipient),
      ['tbob@localhost', 'tcarol@localhost'],
    );
    assert.equal(r.box('tbob').length, 1);
  });
});

test('does bounce 5.7.1 when files or commands are not allowed', async () => {
  const aliases = () => [memoryAliases({ tbob: '/dev/null, "|/bin/true"' })];
  const settings = { allowMailToFiles: [], allowMailToCommands: [] };
  await run('tbob@localhost', aliases, settings, {}, (r) => {
    assert.deepEqual(
      r.log.map((l) => `${l.dsn} ${l.reason}`),
      [
        '5.7.1 mail to file is restricted',
        '5.7.1 mail to command is restricted',
      ],
    );
  });
});

test('does run a |command from aliases of root as default_privs', async () => {
  const aliases = (dir: string) => [
    memoryAliases({ tbob: `"|cat > ${publicDir(dir)}/piped"` }, 0),
  ];
  await run('tbob@localhost', aliases, {}, {}, (r) => {
    assert.equal(r.log[0].status, 'sent');
    const piped = `${r.dir}/pub/piped`;
    assert.match(fs.readFileSync(piped, 'utf8'), /\nhello\n/);
    if (process.getuid!() === 0)
      assert.equal(fs.statSync(piped).uid, getpwnam('nobody')!.uid);
  });
});

test('does resubmit :include: addresses and run its commands', async () => {
  const aliases = (dir: string) => {
    fs.writeFileSync(`${dir}/list`, `tbob\nfriend@example.org\n`);
    return [memoryAliases({ staff: `:include:${dir}/list` })];
  };
  await run('staff@localhost', aliases, {}, {}, (r) => {
    assert.deepEqual(r.forwards, [
      { address: 'tbob@localhost', sender: 'alice@example.com' },
      { address: 'friend@example.org', sender: 'alice@example.com' },
    ]);
    assert.equal(r.box('tbob').length, 0);
  });
});

test('does use owner-name as the sender and resubmit the expansion', async () => {
  const aliases = () => [
    memoryAliases({ list: 'tbob, tcarol', 'owner-list': 'tdave' }),
  ];
  await run('list@localhost', aliases, {}, {}, (r) => {
    assert.deepEqual(r.forwards, [
      { address: 'tbob@localhost', sender: 'owner-list@localhost' },
      { address: 'tcarol@localhost', sender: 'owner-list@localhost' },
    ]);
  });
  await run('list@localhost', aliases, { expandOwnerAlias: true }, {}, (r) => {
    assert.equal(r.forwards[0].sender, 'tdave@localhost');
  });
});

test('does bounce 5.4.6 when aliases loop', async () => {
  const aliases = () => [memoryAliases({ ta: 'tb', tb: 'ta' })];
  await run('ta@localhost', aliases, {}, {}, (r) => {
    assert.equal(r.log.length, 1);
    assert.equal(r.log[0].dsn, '5.4.6');
    assert.match(r.log[0].reason, /^alias database loop for t[ab]$/);
  });
});

test('does bounce 5.4.6 when Delivered-To: already names the recipient', async () => {
  const message = {
    lines: ['Delivered-To: TBob@localhost', 'Subject: x', '', 'body'],
  };
  await run(
    'tbob@localhost',
    () => [],
    {},
    message,
    (r) => {
      assert.deepEqual(r.log, [
        {
          recipient: 'tbob@localhost',
          status: 'bounced',
          dsn: '5.4.6',
          reason: 'mail forwarding loop for tbob@localhost',
        },
      ]);
      assert.equal(r.box('tbob').length, 0);
    },
  );
});

test('does defer 4.3.0 when an alias table fails', async () => {
  const broken: AliasTable = {
    name: 'texthash:/broken',
    ownerUid: 0,
    lookup: async () => {
      throw new Error('open /broken: No such file or directory');
    },
  };
  await run(
    'tbob@localhost',
    () => [broken],
    {},
    {},
    (r) => {
      assert.deepEqual(
        r.log.map((l) => `${l.dsn} ${l.reason}`),
        ['4.3.0 alias database unavailable'],
      );
    },
  );
});

test('does refuse spool names that are not safe as file names', async () => {
  await run(
    '../etc@localhost',
    () => [],
    {},
    {},
    (r) => {
      assert.equal(r.log[0].dsn, '5.1.3');
      assert.ok(!fs.existsSync(path.join(r.dir, 'etc')));
    },
  );
});

test('does drop an extension that holds a slash', async () => {
  await run(
    'tbob+a/b@localhost',
    () => [],
    {},
    {},
    (r) => {
      assert.equal(r.log[0].status, 'bounced');
    },
  );
});

const HEADERS: Array<[string, Partial<LocalSettings>, RegExp, RegExp]> = [
  ['by default', {}, /Delivered-To: tbob@localhost\n/, /Delivered-To:/],
  [
    'without file in prepend_delivered_header',
    { prependDeliveredHeader: ['command'] },
    /^(?![\s\S]*Delivered-To:)/,
    /Delivered-To:/,
  ],
  [
    'with enable_original_recipient = no',
    { enableOriginalRecipient: false },
    /^(?![\s\S]*X-Original-To:)/,
    /^(?![\s\S]*X-Original-To:)/,
  ],
];

for (const [when, settings, file, mailbox] of HEADERS) {
  test(`does write the envelope headers ${when}`, async () => {
    const aliases = (dir: string) => [
      memoryAliases({ tbob: `tbob, ${publicDir(dir)}/copy` }),
    ];
    await run('tbob@localhost', aliases, settings, {}, (r) => {
      assert.match(fs.readFileSync(`${r.dir}/pub/copy`, 'utf8'), file);
      assert.match(r.box('tbob')[0], mailbox);
    });
  });
}
