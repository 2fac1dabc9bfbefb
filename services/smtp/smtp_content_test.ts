// Tests of the content stream the smtp client sends: records of a real
// queue file in a temporary folder, read back as CRLF-ended lines.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeRecord, REC } from '../../packages/queue/record';
import { ContentStream } from './smtp_content';

type Recs = Array<[string, string]>;

// A file of a dummy envelope record, then recs; returns the fd and the
// offset of the first content record.
function queueFile(dir: string, recs: Recs): { fd: number; offset: number } {
  const head = encodeRecord(REC.MESG, '');
  const body = recs.map(([t, d]) => encodeRecord(t, d));
  const file = path.join(dir, 'q');
  fs.writeFileSync(file, Buffer.concat([head, ...body]));
  return { fd: fs.openSync(file, 'r'), offset: head.length };
}

async function read(recs: Recs): Promise<{ text: string; pieces: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-content-'));
  const { fd, offset } = queueFile(dir, recs);
  try {
    const pieces: Buffer[] = [];
    for await (const piece of new ContentStream(fd, offset)) pieces.push(piece);
    return {
      text: Buffer.concat(pieces).toString('latin1'),
      pieces: pieces.length,
    };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const CASES: Array<[string, Recs, string]> = [
  [
    'plain lines',
    [
      ['N', 'a'],
      ['N', ''],
      ['N', 'b'],
      ['X', ''],
    ],
    'a\r\n\r\nb\r\n',
  ],
  [
    'an L piece joined with its line',
    [
      ['L', 'ab'],
      ['N', 'cd'],
      ['X', ''],
    ],
    'abcd\r\n',
  ],
  [
    'padding skipped',
    [
      ['N', 'a'],
      ['w', '  '],
      ['N', 'b'],
      ['X', ''],
    ],
    'a\r\nb\r\n',
  ],
  // M is bytes 0-1, p "12" 2-5, N "skip" 6-11: the pointer skips it.
  [
    'a pointer followed',
    [
      ['p', '12'],
      ['N', 'skip'],
      ['N', 'x'],
      ['X', ''],
    ],
    'x\r\n',
  ],
  [
    'a null pointer ignored',
    [
      ['p', '0'],
      ['N', 'a'],
      ['X', ''],
    ],
    'a\r\n',
  ],
  ['no content', [['X', '']], ''],
];

for (const [what, recs, want] of CASES)
  test(`does read the content when ${what}`, async () => {
    assert.equal((await read(recs)).text, want);
  });

test('does send content over 64 KB in more than one piece, each whole', async () => {
  const line = 'x'.repeat(999);
  const recs: Recs = Array.from(
    { length: 200 },
    () => ['N', line] as [string, string],
  );
  const { text, pieces } = await read([...recs, ['X', '']]);
  assert.equal(text, `${line}\r\n`.repeat(200));
  assert.ok(pieces >= 3 && pieces <= 4, `${pieces} pieces`);
});

const BAD: Array<[string, Recs, RegExp]> = [
  [
    'an envelope record in the content',
    [
      ['N', 'a'],
      ['R', 'b@c'],
      ['X', ''],
    ],
    /bad content record: R/,
  ],
  ['no X record', [['N', 'a']], /no extracted_info record/],
  [
    'a pointer loop',
    [
      ['p', '2'],
      ['X', ''],
    ],
    /pointer loop/,
  ],
  [
    'a bad pointer',
    [
      ['p', 'ten'],
      ['X', ''],
    ],
    /bad pointer record: ten/,
  ],
];

for (const [what, recs, want] of BAD)
  test(`does fail the stream when ${what}`, async () => {
    await assert.rejects(read(recs), want);
  });

test('does read all of a content longer than one read of the file', async () => {
  const line = (i: number) => `line ${i} `.padEnd(40, 'x');
  const recs: Recs = Array.from({ length: 3000 }, (_, i) => ['N', line(i)]);
  const { text } = await read([...recs, ['X', '']]);
  assert.equal(text, recs.map(([, d]) => `${d}\r\n`).join(''));
});
