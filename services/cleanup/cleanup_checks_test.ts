// Unit tests of header_checks and body_checks in cleanup: a real cleanup
// in a temporary queue with regexp: tables inline in main.cf; each action
// is shown by the reply, the queue file (or its absence) and the log.

import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'node:test';
import assert from 'node:assert/strict';
import { CLEANUP_FLAG } from '../../packages/ipc/cleanup_client';
import {
  contentLines,
  message,
  readQueueFile,
  startCleanup,
  submit,
  SMTP_ATTRS,
  type RecordList,
} from './cleanup_testkit';

const HEADER_CHECKS =
  'header_checks = regexp:{ ' +
  '{/^Subject: reject/ REJECT go away}, ' +
  '{/^Subject: dsnreject/ REJECT 5.7.0 own code}, ' +
  '{/^Subject: warn/ WARN noted}, ' +
  '{/^Subject: info/ INFO seen}, ' +
  '{/^Subject: hold/ HOLD held for review}, ' +
  '{/^Subject: discard/ DISCARD}, ' +
  '{/^X-Drop:/ IGNORE}, ' +
  '{/^Subject: prepend/ PREPEND X-Flag: yes}, ' +
  '{/^Subject: replace/ REPLACE Subject: replaced}, ' +
  '{/^Subject: redirect/ REDIRECT carol@example.net}, ' +
  '{/^Subject: pass/ PASS}, ' +
  '{/^Subject: bcc/ BCC audit@example.net}, ' +
  '{/^Subject: dunno/ DUNNO} }';

const BODY_CHECKS =
  'body_checks = regexp:{ ' +
  '{/^badword/ REJECT body refused}, ' +
  '{/^secret/ REPLACE [censored]}, ' +
  '{/^strip me/ IGNORE} }';

const FLAGS = CLEANUP_FLAG.FILTER | CLEANUP_FLAG.MAP_OK;

interface Case {
  name: string;
  lines: string[];
  status?: number;
  reason?: string;
  queue?: 'incoming' | 'hold' | null;
  want?: RegExp[];
  unwanted?: RegExp[];
  log?: RegExp;
}

const LOG_TAIL =
  'from client.example.net\\[192.0.2.10\\]; from=<alice@example.org> ' +
  'to=<bob@example.com> proto=ESMTP helo=<helo.example.net>';

const CASES: Case[] = [
  {
    name: 'does refuse the message with the text when a header matches REJECT',
    lines: ['Subject: reject this', '', 'body'],
    status: 8,
    reason: 'go away',
    queue: null,
    log: new RegExp(
      `: reject: header Subject: reject this ${LOG_TAIL}: 5.7.1 go away$`,
    ),
  },
  {
    name: 'does take the DSN code off a REJECT text that has one',
    lines: ['Subject: dsnreject', '', 'body'],
    status: 8,
    reason: 'own code',
    queue: null,
  },
  {
    name: 'does log and keep the message when a header matches WARN',
    lines: ['Subject: warn me', '', 'body'],
    want: [/^Subject: warn me$/m],
    log: new RegExp(`: warning: header Subject: warn me ${LOG_TAIL}: noted$`),
  },
  {
    name: 'does log an info line when a header matches INFO',
    lines: ['Subject: info me', '', 'body'],
    log: new RegExp(`: info: header Subject: info me ${LOG_TAIL}: seen$`),
  },
  {
    name: 'does put the message in hold/ when a header matches HOLD',
    lines: ['Subject: hold me', '', 'body'],
    queue: 'hold',
    log: /: hold: header Subject: hold me from .*: held for review$/,
  },
  {
    name: 'does answer ok and keep nothing when a header matches DISCARD',
    lines: ['Subject: discard me', '', 'body'],
    queue: null,
    log: /: discard: header Subject: discard me from .*proto=ESMTP helo=<helo.example.net>$/,
  },
  {
    name: 'does remove a header that matches IGNORE',
    lines: ['Subject: plain', 'X-Drop: me', '', 'body'],
    unwanted: [/^X-Drop:/m],
  },
  {
    name: 'does add a header before one that matches PREPEND',
    lines: ['Subject: prepend me', '', 'body'],
    want: [/^X-Flag: yes\nSubject: prepend me$/m],
  },
  {
    name: 'does put the text in place of a header that matches REPLACE',
    lines: ['Subject: replace me', '', 'body'],
    want: [/^Subject: replaced$/m],
    unwanted: [/^Subject: replace me$/m],
  },
  {
    name: 'does check a folded header as one logical header',
    lines: ['Subject: something', ' reject folded', '', 'body'],
    status: 0,
  },
  {
    name: 'does stop all checks of the message when a header matches PASS',
    lines: ['Subject: pass', 'X-Drop: kept', '', 'badword kept'],
    want: [/^X-Drop: kept$/m, /^badword kept$/m],
  },
  {
    name: 'does refuse the message when a body line matches REJECT',
    lines: ['Subject: plain', '', 'first', 'badword here'],
    status: 8,
    reason: 'body refused',
    queue: null,
    log: new RegExp(
      `: reject: body badword here ${LOG_TAIL}: 5.7.1 body refused$`,
    ),
  },
  {
    name: 'does replace and remove body lines per REPLACE and IGNORE',
    lines: ['Subject: plain', '', 'secret plan', 'strip me', 'last'],
    want: [/^\[censored\]\nlast$/m],
    unwanted: [/secret plan|strip me/],
  },
];

function findFile(queueDir: string, queue: string, id: string): string | null {
  const file = path.join(queueDir, queue, id);
  return fs.existsSync(file) ? file : null;
}

for (const c of CASES) {
  test(c.name, async () => {
    const h = await startCleanup(`${HEADER_CHECKS}\n${BODY_CHECKS}`);
    try {
      const before = h.logs.length;
      const recs = message({ attrs: SMTP_ATTRS, lines: c.lines });
      const result = await submit(h.queueDir, FLAGS, recs);
      assert.equal(result.status, c.status ?? 0, result.reason);
      if (c.reason) assert.equal(result.reason, c.reason);
      const queue = c.queue === undefined ? 'incoming' : c.queue;
      for (const q of ['incoming', 'hold'])
        assert.equal(
          findFile(h.queueDir, q, result.queueId) !== null,
          q === queue,
          q,
        );
      const logs = h.logs.slice(before).join('\n');
      if (c.log) assert.match(logs, new RegExp(c.log.source, 'm'));
      if (!queue) return;
      const file = findFile(h.queueDir, queue, result.queueId) as string;
      const text = contentLines(file).join('\n');
      for (const re of c.want ?? []) assert.match(text, re);
      for (const re of c.unwanted ?? []) assert.doesNotMatch(text, re);
    } finally {
      await h.close();
    }
  });
}

test('does run no checks when the client does not set FILTER', async () => {
  const h = await startCleanup(HEADER_CHECKS);
  try {
    const recs = message({ lines: ['Subject: reject this', '', 'body'] });
    const result = await submit(h.queueDir, 0, recs);
    assert.equal(result.status, 0);
  } finally {
    await h.close();
  }
});

test('does replace every recipient when a header matches REDIRECT', async () => {
  const h = await startCleanup(HEADER_CHECKS);
  try {
    const recs = message({
      attrs: SMTP_ATTRS,
      rcpts: ['bob@example.com', 'dan@example.com'],
      lines: ['Subject: redirect me', '', 'body'],
    });
    const result = await submit(h.queueDir, FLAGS, recs);
    assert.equal(result.status, 0);
    const file = path.join(h.queueDir, 'incoming', result.queueId);
    const live = readQueueFile(file)
      .filter((r) => r.type === 'R')
      .map((r) => r.data.toString());
    const done = readQueueFile(file)
      .filter((r) => r.type === 'D')
      .map((r) => r.data.toString());
    assert.deepEqual(live, ['carol@example.net']);
    assert.deepEqual(done, ['bob@example.com', 'dan@example.com']);
  } finally {
    await h.close();
  }
});

const MORE: Array<{
  name: string;
  main: string;
  lines: string[];
  status: number;
}> = [
  {
    name: 'does look MIME headers up in mime_header_checks',
    main:
      'header_checks = regexp:{ {/^Subject: x/ REJECT plain} }\n' +
      'mime_header_checks = regexp:{ {/^Content-Type: .*zip/ REJECT mime} }',
    lines: ['Subject: y', 'Content-Type: application/zip', '', 'body'],
    status: 8,
  },
  {
    name: 'does not look other headers up in mime_header_checks',
    main: 'mime_header_checks = regexp:{ {/^Subject:/ REJECT mime} }',
    lines: ['Subject: y', '', 'body'],
    status: 0,
  },
  {
    name: 'does look no further than body_checks_size_limit into the body',
    main:
      'body_checks_size_limit = 10\n' +
      'body_checks = regexp:{ {/^badword/ REJECT late} }',
    lines: ['Subject: y', '', 'a long first line', 'badword'],
    status: 0,
  },
  {
    name: 'does answer a write error when a check table cannot be opened',
    main: 'header_checks = texthash:/nonexistent/header_checks',
    lines: ['Subject: y', '', 'body'],
    status: 2,
  },
];

for (const c of MORE) {
  test(c.name, async () => {
    const h = await startCleanup(c.main);
    try {
      const recs = message({ attrs: SMTP_ATTRS, lines: c.lines });
      const result = await submit(h.queueDir, FLAGS, recs);
      assert.equal(result.status, c.status, result.reason);
    } finally {
      await h.close();
    }
  });
}

test('does add a recipient when a header matches BCC and the client allows it', async () => {
  const h = await startCleanup(HEADER_CHECKS);
  try {
    const recs = message({
      attrs: SMTP_ATTRS,
      lines: ['Subject: bcc me', '', 'body'],
    });
    const flags = FLAGS | CLEANUP_FLAG.BCC_OK;
    const result = await submit(h.queueDir, flags, recs);
    assert.equal(result.status, 0);
    const file = path.join(h.queueDir, 'incoming', result.queueId);
    const live = readQueueFile(file)
      .filter((r) => r.type === 'R')
      .map((r) => r.data.toString());
    assert.deepEqual(live, ['bob@example.com', 'audit@example.net']);
  } finally {
    await h.close();
  }
});

test('does bounce with the REJECT text when BOUNCE is set', async () => {
  const h = await startCleanup(HEADER_CHECKS);
  try {
    const recs = message({
      sender: 'user@example.org',
      lines: ['Subject: reject me', '', 'body'],
    });
    const flags = CLEANUP_FLAG.BOUNCE | CLEANUP_FLAG.FILTER;
    const got = await submit(h.queueDir, flags, recs);
    assert.equal(got.status, 0);
    const notices = fs
      .readdirSync(path.join(h.queueDir, 'incoming'))
      .map((id) => contentLines(path.join(h.queueDir, 'incoming', id)));
    assert.equal(notices.length, 1);
    assert.match(notices[0].join('\n'), /go away/);
  } finally {
    await h.close();
  }
});

const MIME_MESSAGE = [
  'Subject: with parts',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain',
  '',
  'hello',
  '--b1',
  'Content-Type: application/octet-stream; name="x.exe"',
  '',
  'AAAA',
  '--b1',
  'Content-Type: message/rfc822',
  '',
  'Subject: inner secret',
  '',
  'inner body',
  '--b1--',
];

const MIME_CASES: Array<[string, string, number]> = [
  [
    'does check the Content-Type: of a part with mime_header_checks',
    'mime_header_checks = regexp:{ {/name="[^"]*\\.exe"/ REJECT no exe} }',
    8,
  ],
  [
    'does check the headers of an attached message with nested_header_checks',
    'nested_header_checks = regexp:{ {/^Subject: inner/ REJECT nested} }',
    8,
  ],
  [
    'does not give the headers of an attached message to header_checks',
    'header_checks = regexp:{ {/^Subject: inner/ REJECT primary} }\n' +
      'nested_header_checks =',
    0,
  ],
  [
    'does not give part headers to body_checks',
    'body_checks = regexp:{ {/^Content-Type/ REJECT body} }',
    0,
  ],
  [
    'does give boundaries to body_checks',
    'body_checks = regexp:{ {/^--b1--$/ REJECT boundary} }',
    8,
  ],
];

for (const [name, main, status] of MIME_CASES) {
  test(name, async () => {
    const h = await startCleanup(main);
    try {
      const recs = message({ attrs: SMTP_ATTRS, lines: MIME_MESSAGE });
      const result = await submit(h.queueDir, FLAGS, recs);
      assert.equal(result.status, status, result.reason);
      if (status !== 0) return;
      const file = path.join(h.queueDir, 'incoming', result.queueId);
      assert.deepEqual(
        contentLines(file).slice(-MIME_MESSAGE.length),
        MIME_MESSAGE,
      );
    } finally {
      await h.close();
    }
  });
}

test('does keep long lines whole while checks look at each piece', async () => {
  const h = await startCleanup(
    'line_length_limit = 100\n' +
      'body_checks = regexp:{ {/^nomatch/ REJECT x} }\n' +
      'mime_header_checks = regexp:{ {/^Content-Type: nomatch/ REJECT x} }',
  );
  try {
    const lines = [
      'Subject: long',
      'Content-Type: multipart/mixed; boundary=b1',
      '',
      '--b1',
      `Content-Type: text/plain; name="${'n'.repeat(250)}"`,
      '',
      'z'.repeat(350),
      '--b1--',
    ];
    const recs = inPieces(message({ attrs: SMTP_ATTRS, lines }), 100);
    const result = await submit(h.queueDir, FLAGS, recs);
    assert.equal(result.status, 0);
    const file = path.join(h.queueDir, 'incoming', result.queueId);
    assert.deepEqual(contentLines(file).slice(-lines.length), lines);
  } finally {
    await h.close();
  }
});

test('does check a later piece of a long body line on its own', async () => {
  const h = await startCleanup(
    'line_length_limit = 100\nbody_checks = regexp:{ {/^y+$/ REJECT tail} }',
  );
  try {
    const lines = ['Subject: long', '', 'first', 'x'.repeat(100) + 'yyyy'];
    const recs = inPieces(message({ attrs: SMTP_ATTRS, lines }), 100);
    const result = await submit(h.queueDir, FLAGS, recs);
    assert.equal(result.status, 8);
  } finally {
    await h.close();
  }
});

// Content lines longer than max as L pieces and a final N, as a client
// sends them.
function inPieces(recs: RecordList, max: number): RecordList {
  const out: RecordList = [];
  for (const [type, data] of recs) {
    let text = data.toString();
    if (type !== 'N') {
      out.push([type, data]);
      continue;
    }
    for (; text.length > max; text = text.slice(max))
      out.push(['L', text.slice(0, max)]);
    out.push(['N', text]);
  }
  return out;
}
