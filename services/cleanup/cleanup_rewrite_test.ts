// Unit tests of cleanup's address mapping: a real cleanup on a socket in
// a temporary queue, inline: and regexp: tables in main.cf, and the
// records of the committed queue file read back.

import * as path from 'node:path';
import test from 'node:test';
import assert from 'node:assert/strict';
import { CLEANUP_FLAG } from '../../packages/ipc/cleanup_client';
import {
  message,
  readQueueFile,
  contentLines,
  startCleanup,
  submit,
  SMTP_ATTRS,
} from './cleanup_testkit';

const MAP_FLAGS = CLEANUP_FLAG.MAP_OK | CLEANUP_FLAG.FILTER;

interface Case {
  name: string;
  main: string;
  sender?: string;
  rcpts: string[];
  lines?: string[];
  flags?: number;
  wantSender?: string;
  wantRcpts: Array<[string, string]>; // [O, R]
  wantLines?: RegExp[];
}

const CASES: Case[] = [
  {
    name: 'does complete bare envelope addresses with @$myorigin, keeping O as given',
    main: '',
    sender: 'ann',
    rcpts: ['joe'],
    flags: 0,
    wantSender: 'ann@mx.example.com',
    wantRcpts: [['joe', 'joe@mx.example.com']],
  },
  {
    name: 'does map an envelope recipient by its full address',
    main: 'canonical_maps = inline:{ {old@example.org=new@example.org} }',
    rcpts: ['old@example.org'],
    wantRcpts: [['old@example.org', 'new@example.org']],
  },
  {
    name: 'does map by @domain keeping the user when the result is @domain',
    main: 'recipient_canonical_maps = inline:{ {@old.example=@new.example} }',
    rcpts: ['joe@old.example'],
    wantRcpts: [['joe@old.example', 'joe@new.example']],
  },
  {
    name: 'does look the bare user up only in our own domains',
    main: 'canonical_maps = inline:{ {joe=jane@example.net} }',
    rcpts: ['joe@mx.example.com', 'joe@elsewhere.example'],
    wantRcpts: [
      ['joe@mx.example.com', 'jane@example.net'],
      ['joe@elsewhere.example', 'joe@elsewhere.example'],
    ],
  },
  {
    name: 'does keep an unmatched extension when recipient_delimiter is set',
    main:
      'recipient_delimiter = +\n' +
      'canonical_maps = inline:{ {old@example.org=new@example.org} }',
    rcpts: ['old+tag@example.org'],
    wantRcpts: [['old+tag@example.org', 'new+tag@example.org']],
  },
  {
    name: 'does drop the extension when propagate_unmatched_extensions lacks canonical',
    main:
      'recipient_delimiter = +\npropagate_unmatched_extensions = virtual\n' +
      'canonical_maps = inline:{ {old@example.org=new@example.org} }',
    rcpts: ['old+tag@example.org'],
    wantRcpts: [['old+tag@example.org', 'new@example.org']],
  },
  {
    name: 'does map the sender with sender_canonical_maps',
    main: 'sender_canonical_maps = inline:{ {alice@example.org=al@example.org} }',
    sender: 'alice@example.org',
    rcpts: ['bob@example.com'],
    wantSender: 'al@example.org',
    wantRcpts: [['bob@example.com', 'bob@example.com']],
  },
  {
    name: 'does leave the envelope sender alone when canonical_classes lacks it',
    main:
      'canonical_classes = envelope_recipient\n' +
      'canonical_maps = inline:{ {alice@example.org=al@example.org} }',
    sender: 'alice@example.org',
    rcpts: ['alice@example.org'],
    wantSender: 'alice@example.org',
    wantRcpts: [['alice@example.org', 'al@example.org']],
  },
  {
    name: 'does map nothing when the client does not set MAP_OK',
    main: 'canonical_maps = inline:{ {old@example.org=new@example.org} }',
    rcpts: ['old@example.org'],
    flags: 0,
    wantRcpts: [['old@example.org', 'old@example.org']],
  },
  {
    name: 'does use a regexp table with the full address only',
    main: 'canonical_maps = regexp:{ {/^(.*)@old\\.example$/ $1@new.example} }',
    rcpts: ['ann@old.example'],
    wantRcpts: [['ann@old.example', 'ann@new.example']],
  },
  {
    name: 'does expand a virtual alias to many recipients, keeping O',
    main: 'virtual_alias_maps = inline:{ {all@v.example=a@x.example, b@x.example} }',
    rcpts: ['all@v.example'],
    wantRcpts: [
      ['all@v.example', 'a@x.example'],
      ['all@v.example', 'b@x.example'],
    ],
  },
  {
    name: 'does expand virtual aliases recursively and stop at a self-mapping',
    main:
      'virtual_alias_maps = inline:{ {top@v.example=mid@v.example}, ' +
      '{mid@v.example=mid@v.example, c@x.example} }',
    rcpts: ['top@v.example'],
    wantRcpts: [
      ['top@v.example', 'mid@v.example'],
      ['top@v.example', 'c@x.example'],
    ],
  },
  {
    name: 'does apply canonical before virtual for a recipient',
    main:
      'canonical_maps = inline:{ {x@c.example=y@v.example} }\n' +
      'virtual_alias_maps = inline:{ {y@v.example=z@x.example} }',
    rcpts: ['x@c.example'],
    wantRcpts: [['x@c.example', 'z@x.example']],
  },
  {
    name: 'does rewrite From: and To: addresses and keep the header form',
    main: 'canonical_maps = inline:{ {old@example.org=new@example.org} }',
    rcpts: ['bob@example.com'],
    lines: [
      'From: "Old Name" <old@example.org>',
      'To: bob@example.com, old@example.org (Old), joe',
      'Subject: old@example.org stays',
      '',
      'old@example.org in the body stays',
    ],
    wantRcpts: [['bob@example.com', 'bob@example.com']],
    wantLines: [
      /^From: "Old Name" <new@example.org>$/m,
      /^To: bob@example.com, new@example.org \(Old\), joe@mx.example.com$/m,
      /^Subject: old@example.org stays$/m,
      /^old@example.org in the body stays$/m,
    ],
  },
  {
    name: 'does leave header addresses of remote mail alone without remote_header_rewrite_domain',
    main: 'canonical_maps = inline:{ {old@example.org=new@example.org} }',
    rcpts: ['bob@example.com'],
    lines: ['From: old@example.org', '', 'body'],
    wantRcpts: [['bob@example.com', 'bob@example.com']],
    wantLines: [/^From: old@example.org$/m],
  },
];

function envelope(file: string): { sender: string; rcpts: string[][] } {
  const recs = readQueueFile(file);
  const sender = recs.find((r) => r.type === 'S')?.data.toString() ?? '';
  const rcpts: string[][] = [];
  let orcpt = '';
  for (const r of recs) {
    if (r.type === 'O') orcpt = r.data.toString();
    if (r.type === 'R') rcpts.push([orcpt, r.data.toString()]);
  }
  return { sender, rcpts };
}

for (const c of CASES) {
  test(c.name, async () => {
    const h = await startCleanup(c.main);
    try {
      const remote = c.name.includes('remote');
      const attrs = remote
        ? SMTP_ATTRS
        : SMTP_ATTRS.map((a) => a.replace('=remote', '=local'));
      const recs = message({
        sender: c.sender,
        rcpts: c.rcpts,
        attrs,
        lines: c.lines ?? ['Subject: x', '', 'body'],
      });
      const result = await submit(h.queueDir, c.flags ?? MAP_FLAGS, recs);
      assert.equal(result.status, 0, result.reason);
      const file = path.join(h.queueDir, 'incoming', result.queueId);
      const got = envelope(file);
      if (c.wantSender) assert.equal(got.sender, c.wantSender);
      assert.deepEqual(got.rcpts, c.wantRcpts);
      const text = contentLines(file).join('\n');
      for (const re of c.wantLines ?? []) assert.match(text, re);
    } finally {
      await h.close();
    }
  });
}

const LIMITS: Array<[string, string]> = [
  ['virtual_alias_recursion_limit = 1', 'nesting'],
  ['virtual_alias_expansion_limit = 1', 'expansion size'],
];

for (const [limit, what] of LIMITS) {
  test(`does defer the message when ${limit} is exceeded`, async () => {
    const h = await startCleanup(
      `${limit}\nvirtual_alias_maps = inline:{ {a@v.example=b@v.example, c@x.example}, {b@v.example=d@x.example} }`,
    );
    try {
      const recs = message({ rcpts: ['a@v.example'], lines: ['', 'x'] });
      const result = await submit(h.queueDir, MAP_FLAGS, recs);
      assert.equal(result.status, 256);
      assert.ok(
        h.logs.some((l) =>
          l.includes(`unreasonable virtual_alias_maps map ${what} for`),
        ),
        h.logs.join('\n'),
      );
    } finally {
      await h.close();
    }
  });
}
