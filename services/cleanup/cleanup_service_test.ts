// Tests of the cleanup daemon over its real protocol on a Unix socket in
// a temporary queue directory: record order, headers cleanup adds or
// drops, limits, HOLD, failures and concurrent commits.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../packages/ipc/cleanup_client';
import { encodeAttrs } from '../../packages/ipc/attr';
import { encodeRecord } from '../../packages/queue/record';
import { isReady, queuePath } from '../../packages/queue/mail_queue';
import {
  contentLines,
  message,
  readQueueFile,
  SMTP_ATTRS,
  startCleanup,
  submit,
  type CleanupHarness,
  type RecordList,
} from './cleanup_testkit';

function withCleanup(
  mainCf: string,
  fn: (h: CleanupHarness) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const h = await startCleanup(mainCf);
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  };
}

function incoming(h: CleanupHarness, id: string): string {
  return path.join(h.queueDir, 'incoming', id);
}

function queueFiles(h: CleanupHarness, queue: string): string[] {
  return fs.readdirSync(path.join(h.queueDir, queue));
}

const BASIC = [
  'From: Alice <alice@example.org>',
  'To: bob@example.com',
  'Subject: test',
  'Message-ID: <m1@example.org>',
  'Date: Thu, 3 Dec 2026 10:08:29 +0000',
  '',
  'body line',
];

test(
  'does write records in Postfix order when committing',
  withCleanup('', async (h) => {
    const got = await submit(
      h.queueDir,
      0,
      message({ attrs: SMTP_ATTRS, lines: BASIC }),
    );
    assert.deepEqual([got.status, got.reason], [0, '']);
    const file = incoming(h, got.queueId);
    assert.ok(isReady(fs.statSync(file)));
    const recs = readQueueFile(file);
    const types = recs.map((r) => r.type).join('');
    assert.match(types, /^CTA{8}SORMN+XE$/);
    assert.equal(
      recs[2].data.toString(),
      'create_time=' + recs[2].data.toString().slice(12),
    );
    assert.equal(recs[3].data.toString(), `log_ident=${got.queueId}`);
    const size = recs[0].data.toString().trim().split(/ +/).map(Number);
    const m = recs.find((r) => r.type === 'M')!;
    const x = recs.find((r) => r.type === 'X')!;
    assert.equal(recs[0].data.length, 95);
    assert.deepEqual(size, [
      x.offset - m.offset - 2,
      m.offset + 2,
      1,
      0,
      x.offset - m.offset - 2,
      0,
    ]);
    // The trigger's connection may end after cleanup's reply is read.
    await waitFor(() => h.triggers.length > 0);
    assert.deepEqual(h.triggers, ['I']);
  }),
);

test(
  'does add Received in Postfix form when the client is smtpd',
  withCleanup('', async (h) => {
    const table: Array<[string[], RegExp]> = [
      [
        ['bob@example.com'],
        /^\tfor <bob@example\.com>; \w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(.+\)$/,
      ],
      [
        ['bob@example.com', 'carol@example.com'],
        /^\t\w{3}, [ \d]\d \w{3} \d{4} /,
      ],
    ];
    for (const [rcpts, third] of table) {
      const got = await submit(
        h.queueDir,
        0,
        message({ attrs: SMTP_ATTRS, rcpts, lines: BASIC }),
      );
      const lines = contentLines(incoming(h, got.queueId));
      assert.equal(
        lines[0],
        'Received: from helo.example.net (client.example.net [192.0.2.10])',
      );
      const by = `\tby mx.example.com (Postfix) with ESMTP id ${got.queueId}`;
      assert.equal(lines[1], rcpts.length === 1 ? by : `${by};`);
      assert.match(lines[2], third);
      assert.equal(lines[3], BASIC[0]);
    }
  }),
);

test(
  'does add Received by userid when the client is pickup',
  withCleanup('', async (h) => {
    const attrs = ['rewrite_context=local', 'submit_uid=1000'];
    const got = await submit(h.queueDir, 0, message({ attrs, lines: BASIC }));
    const recs = readQueueFile(incoming(h, got.queueId));
    assert.ok(!recs.some((r) => r.data.toString() === 'submit_uid=1000'));
    const lines = contentLines(incoming(h, got.queueId));
    assert.equal(
      lines[0],
      'Received: by mx.example.com (Postfix, from userid 1000)',
    );
    assert.match(lines[1], new RegExp(`^\\tid ${got.queueId}; \\w{3}, `));
  }),
);

test('does add missing headers only when local or always_add_missing_headers', async () => {
  const table: Array<[string, string, boolean]> = [
    ['', 'rewrite_context=local', true],
    ['', 'rewrite_context=remote', false],
    ['always_add_missing_headers = yes', 'rewrite_context=remote', true],
  ];
  for (const [mainCf, context, added] of table) {
    await withCleanup(mainCf, async (h) => {
      const lines = ['Subject: bare', '', 'body'];
      const got = await submit(
        h.queueDir,
        0,
        message({ attrs: [context], sender: 'al ice@example.org', lines }),
      );
      const out = contentLines(incoming(h, got.queueId));
      const ids = out.filter((l) => l.startsWith('Message-ID: '));
      const want = `<\\d{14}\\.${got.queueId}@mx\\.example\\.com>`;
      if (added) {
        assert.match(ids[0], new RegExp(`^Message-ID: ${want}$`));
        assert.ok(out.some((l) => /^Date: \w{3}, /.test(l)));
        assert.ok(out.includes('From: "al ice"@example.org'));
        assert.deepEqual(out.slice(-2), ['', 'body']);
        assert.ok(
          h.logs.some((l) =>
            new RegExp(`: ${got.queueId}: message-id=${want}$`).test(l),
          ),
        );
      } else {
        assert.deepEqual(out, lines);
        assert.ok(
          h.logs.some((l) => l.endsWith(`: ${got.queueId}: message-id=<>`)),
        );
      }
    })();
  }
});

test(
  'does log message-id as Postfix when the header is present',
  withCleanup('', async (h) => {
    const got = await submit(h.queueDir, 0, message({ lines: BASIC }));
    assert.ok(
      h.logs.some(
        (l) =>
          / postfix\/cleanup\[\d+\]: /.test(l) &&
          l.endsWith(`: ${got.queueId}: message-id=<m1@example.org>`),
      ),
    );
  }),
);

test(
  'does answer HOPS when Received and Delivered-To reach hopcount_limit',
  withCleanup('hopcount_limit = 4', async (h) => {
    const table: Array<[string[], number]> = [
      [['Received: a', 'Delivered-To: b'], 0],
      [['Received: a', 'Received: b', 'Delivered-To: c'], CLEANUP_STAT.HOPS],
    ];
    for (const [hops, status] of table) {
      const lines = [...hops, 'Subject: x', '', 'body'];
      const got = await submit(
        h.queueDir,
        0,
        message({ attrs: SMTP_ATTRS, lines }),
      );
      assert.equal(got.status, status);
      if (status) assert.equal(got.reason, '5.4.0 too many hops');
      assert.equal(fs.existsSync(incoming(h, got.queueId)), status === 0);
    }
  }),
);

test(
  'does answer SIZE and remove the file when over message_size_limit',
  withCleanup('message_size_limit = 2000', async (h) => {
    const lines = ['Subject: big', '', ...Array(100).fill('x'.repeat(50))];
    const got = await submit(h.queueDir, 0, message({ lines }));
    assert.deepEqual(
      [got.status, got.reason],
      [CLEANUP_STAT.SIZE, '5.3.4 message file too big'],
    );
    assert.deepEqual(queueFiles(h, 'incoming'), []);
    assert.deepEqual(h.triggers, []);
  }),
);

test(
  'does store long lines as L pieces of line_length_limit',
  withCleanup('line_length_limit = 100', async (h) => {
    const long = 'y'.repeat(250);
    const got = await submit(
      h.queueDir,
      0,
      message({ lines: ['Subject: l', '', long, 'end'] }),
    );
    const recs = readQueueFile(incoming(h, got.queueId));
    const body = recs.filter((r) => r.data.toString().startsWith('y'));
    assert.deepEqual(
      body.map((r) => [r.type, r.data.length]),
      [
        ['L', 100],
        ['L', 100],
        ['N', 50],
      ],
    );
    assert.deepEqual(contentLines(incoming(h, got.queueId)).slice(-2), [
      long,
      'end',
    ]);
  }),
);

test(
  'does drop message_drop_headers with their continuation lines',
  withCleanup('', async (h) => {
    const lines = [
      'To: bob@example.com',
      'Bcc: secret@example.com,',
      ' other@example.com',
      'Return-Path: <x@y>',
      'Subject: s',
      '',
      'Bcc: in body stays',
    ];
    const got = await submit(h.queueDir, 0, message({ lines }));
    assert.deepEqual(contentLines(incoming(h, got.queueId)), [
      'To: bob@example.com',
      'Subject: s',
      '',
      'Bcc: in body stays',
    ]);
  }),
);

test(
  'does discard the excess of a header over header_size_limit',
  withCleanup('header_size_limit = 100', async (h) => {
    const lines = [
      'Subject: ' + 'a'.repeat(60),
      ' ' + 'b'.repeat(60),
      ' c',
      'To: bob@example.com',
      '',
      'body',
    ];
    const got = await submit(h.queueDir, 0, message({ lines }));
    assert.equal(got.status, 0);
    assert.deepEqual(contentLines(incoming(h, got.queueId)), [
      'Subject: ' + 'a'.repeat(60),
      ' c',
      'To: bob@example.com',
      '',
      'body',
    ]);
  }),
);

test(
  'does keep a header cut at header_size_limit when one line is longer',
  withCleanup('header_size_limit = 100\nline_length_limit = 40', async (h) => {
    const table: Array<[string, RecordList]> = [
      ['one N record', [['N', 'Subject: ' + 'a'.repeat(200)]]],
      [
        'L pieces',
        [
          ['L', 'X-Long: ' + 'b'.repeat(80)],
          ['L', 'c'.repeat(80)],
          ['N', 'd'.repeat(80)],
        ],
      ],
    ];
    for (const [name, header] of table) {
      const recs: RecordList = message({ lines: ['To: bob@example.com'] });
      const at = recs.findIndex((r) => r[0] === 'M') + 1;
      recs.splice(at, 0, ...header);
      recs.splice(at + header.length + 1, 0, ['N', ''], ['N', 'body']);
      const got = await submit(h.queueDir, 0, recs);
      assert.deepEqual([got.status, got.reason], [0, ''], name);
      const lines = contentLines(incoming(h, got.queueId));
      assert.equal(lines[0].length, 100, name);
      assert.deepEqual(lines.slice(1), ['To: bob@example.com', '', 'body']);
    }
  }),
);

test('does write the W record at arrival plus delay_warning_time', async () => {
  const table: Array<[string, number | undefined]> = [
    ['', undefined],
    ['delay_warning_time = 0h', undefined],
    ['delay_warning_time = 2', 7200],
    ['delay_warning_time = 90s', 90],
  ];
  for (const [mainCf, delay] of table) {
    const h = await startCleanup(mainCf);
    try {
      const got = await submit(h.queueDir, 0, message({ lines: BASIC }));
      assert.equal(got.status, 0);
      const recs = readQueueFile(incoming(h, got.queueId));
      const w = recs.filter((r) => r.type === 'W');
      if (delay === undefined) {
        assert.equal(w.length, 0, mainCf);
        continue;
      }
      assert.equal(w.length, 1, mainCf);
      assert.equal(w[0].data.length, 15);
      assert.equal(Number(w[0].data.toString()), 1796292509 + delay);
    } finally {
      await h.close();
    }
  }
});

test(
  'does bounce a refused message to its sender when BOUNCE is set',
  withCleanup('message_size_limit = 2000\nhopcount_limit = 3', async (h) => {
    const big = ['Subject: big', '', ...Array(100).fill('x'.repeat(50))];
    const hops = ['Received: a', 'Received: b', 'Received: c', '', 'b'];
    const table: Array<[string, string[], string]> = [
      ['size', big, '5.3.4'],
      ['hops', hops, '5.4.0'],
    ];
    for (const [name, lines, dsn] of table) {
      const before = new Set(queueFiles(h, 'incoming'));
      const msgRecs = message({ sender: 'user@example.org', lines });
      const got = await submit(h.queueDir, CLEANUP_FLAG.BOUNCE, msgRecs);
      assert.deepEqual([got.status, got.reason], [0, ''], name);
      assert.equal(fs.existsSync(incoming(h, got.queueId)), false, name);
      const added = queueFiles(h, 'incoming').filter((f) => !before.has(f));
      assert.equal(added.length, 1, name);
      const recs = readQueueFile(incoming(h, added[0]));
      const env = recs
        .filter((r) => 'SR'.includes(r.type))
        .map((r) => r.data.toString());
      assert.deepEqual(env, ['', 'user@example.org'], name);
      const text = contentLines(incoming(h, added[0])).join('\n');
      assert.match(text, /^Subject: Undelivered Mail Returned to Sender$/m);
      assert.match(
        text,
        new RegExp(`^Status: ${dsn.replace(/\./g, '\\.')}$`, 'm'),
      );
      assert.match(text, /^Final-Recipient: rfc822; bob@example\.com$/m);
      assert.ok(
        h.logs.some((l) =>
          l.endsWith(
            `${got.queueId}: sender non-delivery notification: ${added[0]}`,
          ),
        ),
        name,
      );
    }
  }),
);

test(
  'does still refuse when BOUNCE is set but the error is temporary or bad',
  withCleanup('', async (h) => {
    const recs: RecordList = [
      ['S', 'a@example.org'],
      ['Q', 'junk'],
    ];
    const got = await submit(h.queueDir, CLEANUP_FLAG.BOUNCE, recs);
    assert.equal(got.status, CLEANUP_STAT.BAD);
    assert.deepEqual(queueFiles(h, 'incoming'), []);
  }),
);

test(
  'does put the file in hold and not trigger qmgr when HOLD is set',
  withCleanup('', async (h) => {
    const got = await submit(
      h.queueDir,
      CLEANUP_FLAG.HOLD,
      message({ lines: BASIC }),
    );
    assert.equal(got.status, 0);
    assert.deepEqual(queueFiles(h, 'incoming'), []);
    const held = queuePath(h.queueDir, 'hold', got.queueId, h.config);
    assert.ok(isReady(fs.statSync(held)));
    assert.deepEqual(h.triggers, []);
  }),
);

test(
  'does answer status bits when the envelope is wrong',
  withCleanup('', async (h) => {
    const table: Array<[string, RecordList, number, string]> = [
      [
        'no recipients',
        message({ rcpts: [], lines: BASIC }),
        CLEANUP_STAT.RCPT,
        '5.1.0 no recipients specified',
      ],
      [
        'bad record type',
        [
          ['T', '1 2'],
          ['Z', 'x'],
        ],
        CLEANUP_STAT.BAD,
        '4.3.0 internal protocol error',
      ],
      [
        'newline in sender',
        [['S', 'a\nb@c']],
        CLEANUP_STAT.BAD,
        '4.3.0 internal protocol error',
      ],
      [
        'no sender',
        [
          ['R', 'b@c'],
          ['M', ''],
        ],
        CLEANUP_STAT.BAD,
        '4.3.0 internal protocol error',
      ],
      [
        'N in envelope',
        [['N', 'x']],
        CLEANUP_STAT.BAD,
        '4.3.0 internal protocol error',
      ],
    ];
    for (const [what, recs, status, reason] of table) {
      const got = await submit(h.queueDir, 0, recs);
      assert.deepEqual([got.status, got.reason], [status, reason], what);
    }
    assert.deepEqual(queueFiles(h, 'incoming'), []);
    assert.ok(
      h.logs.some(
        (l) =>
          l.includes('warning: ') &&
          l.includes('unexpected record type 90 in envelope'),
      ),
    );
  }),
);

test(
  'does drop duplicate recipients and count extracted ones',
  withCleanup('', async (h) => {
    const recs = message({
      rcpts: ['bob@example.com', 'bob@example.com'],
      lines: BASIC,
    });
    recs.splice(recs.length - 1, 0, ['R', 'carol@example.com']);
    const got = await submit(h.queueDir, 0, recs);
    const file = incoming(h, got.queueId);
    const types = readQueueFile(file)
      .map((r) => r.type)
      .join('');
    assert.match(types, /SORM.*XORE$/);
    assert.equal(
      readQueueFile(file)[0].data.toString().trim().split(/ +/)[2],
      '2',
    );
  }),
);

function rawClient(h: CleanupHarness): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect(path.join(h.queueDir, 'public', 'cleanup'), () =>
      resolve(s),
    );
  });
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++)
    await new Promise((r) => setTimeout(r, 20));
}

test(
  'does remove the file and keep serving when a client goes away before E',
  withCleanup('', async (h) => {
    const s = await rawClient(h);
    s.write(encodeAttrs({ flags: 0 }));
    s.write(encodeRecord('S', 'a@b'));
    s.write(encodeRecord('R', 'c@d'));
    s.write(encodeRecord('M', ''));
    await waitFor(() => queueFiles(h, 'incoming').length === 1);
    s.destroy();
    await waitFor(() => queueFiles(h, 'incoming').length === 0);
    assert.deepEqual(queueFiles(h, 'incoming'), []);
    const got = await submit(h.queueDir, 0, message({ lines: BASIC }));
    assert.equal(got.status, 0);
  }),
);

test('does commit many clients at once with distinct queue IDs', async (t) => {
  await withCleanup('', async (h) => {
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        submit(h.queueDir, 0, message({ lines: BASIC })),
      ),
    );
    const elapsed = Date.now() - started;
    assert.ok(results.every((r) => r.status === 0));
    assert.equal(new Set(results.map((r) => r.queueId)).size, 30);
    assert.equal(queueFiles(h, 'incoming').length, 30);
    t.diagnostic(`30 concurrent commits: ${elapsed} ms`);
  })();
});

test(
  'does remove the file and answer ok when DISCARD is set',
  withCleanup('', async (h) => {
    const flags = CLEANUP_FLAG.DISCARD;
    const got = await submit(h.queueDir, flags, message({ lines: BASIC }));
    assert.deepEqual([got.status, got.reason], [0, '']);
    assert.deepEqual(queueFiles(h, 'incoming'), []);
    assert.deepEqual(h.triggers, []);
  }),
);

test(
  'does keep duplicates past duplicate_filter_limit',
  withCleanup('duplicate_filter_limit = 1', async (h) => {
    const rcpts = [
      'a@example.com',
      'b@example.com',
      'a@example.com',
      'b@example.com',
    ];
    const got = await submit(h.queueDir, 0, message({ rcpts, lines: BASIC }));
    const recs = readQueueFile(incoming(h, got.queueId));
    const kept = recs.filter((r) => r.type === 'R').map((r) => String(r.data));
    assert.deepEqual(kept, ['a@example.com', 'b@example.com', 'b@example.com']);
  }),
);

test(
  'does remove the file when a client stays silent past ipc_timeout',
  withCleanup('ipc_timeout = 1s', async (h) => {
    const s = await rawClient(h);
    s.write(encodeAttrs({ flags: 0 }));
    await waitFor(() => queueFiles(h, 'incoming').length === 1);
    await waitFor(() => queueFiles(h, 'incoming').length === 0);
    assert.deepEqual(queueFiles(h, 'incoming'), []);
    s.destroy();
  }),
);
