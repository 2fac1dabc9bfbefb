// Tests for the DATA and BDAT content decoders: end-of-data only at
// <CR><LF>.<CR><LF> (unless bare LF ends data), dot un-stuffing, long
// line pieces, and the same result however the input is chunked.

import test from 'node:test';
import assert from 'node:assert/strict';
import { BdatDecoder, DataDecoder, ContentLine } from './smtpd_data';

interface Decoded {
  lines: string[];
  done: boolean;
  rest: string;
  bareLf: number;
}

function show(l: ContentLine): string {
  return `${l.data.toString('latin1')}|${l.end}`;
}

function decode(
  input: string,
  lfEnds = false,
  limit = 2048,
  step = 0,
): Decoded {
  const d = new DataDecoder(limit, lfEnds);
  const buf = Buffer.from(input, 'latin1');
  const chunks = step ? [] : [buf];
  for (let i = 0; step && i < buf.length; i += step)
    chunks.push(buf.subarray(i, i + step));
  const lines: string[] = [];
  for (let i = 0; i < chunks.length; i++) {
    const got = d.push(chunks[i]);
    lines.push(...got.lines.map(show));
    if (!got.done) continue;
    // Bytes after the end: what push gave back and the chunks not sent.
    const rest = Buffer.concat([got.rest, ...chunks.slice(i + 1)]);
    return {
      lines,
      done: true,
      rest: rest.toString('latin1'),
      bareLf: d.bareLf,
    };
  }
  return { lines, done: false, rest: '', bareLf: d.bareLf };
}

const CASES: Array<{
  name: string;
  input: string;
  lfEnds?: boolean;
  want: Decoded;
}> = [
  {
    name: 'ends at CRLF.CRLF and keeps what follows',
    input: 'a\r\nb\r\n.\r\nQUIT\r\n',
    want: {
      lines: ['a|crlf', 'b|crlf'],
      done: true,
      rest: 'QUIT\r\n',
      bareLf: 0,
    },
  },
  {
    name: 'ends at once on a lone dot line',
    input: '.\r\n',
    want: { lines: [], done: true, rest: '', bareLf: 0 },
  },
  {
    name: 'un-stuffs a leading dot',
    input: '..x\r\n.\r\n',
    want: { lines: ['.x|crlf'], done: true, rest: '', bareLf: 0 },
  },
  {
    name: 'does not end at LF.LF',
    input: 'a\n.\nb\r\n.\r\n',
    want: { lines: ['a|lf', '|lf', 'b|crlf'], done: true, rest: '', bareLf: 2 },
  },
  {
    name: 'does not end at LF.CRLF',
    input: 'a\n.\r\nb\r\n.\r\n',
    want: {
      lines: ['a|lf', '|crlf', 'b|crlf'],
      done: true,
      rest: '',
      bareLf: 1,
    },
  },
  {
    name: 'does not end at CR.LF',
    input: 'a\r.\nb\r\n.\r\n',
    want: { lines: ['a\r.|lf', 'b|crlf'], done: true, rest: '', bareLf: 1 },
  },
  {
    name: 'does not end at CR.CR',
    input: 'a\r.\rb\r\n.\r\n',
    want: { lines: ['a\r.\rb|crlf'], done: true, rest: '', bareLf: 0 },
  },
  {
    name: 'ends at LF.LF when bare LF ends data (smtpd_forbid_bare_newline=no)',
    input: 'a\n.\nb\r\n.\r\n',
    lfEnds: true,
    want: { lines: ['a|lf'], done: true, rest: 'b\r\n.\r\n', bareLf: 1 },
  },
  {
    name: 'waits for more without an end',
    input: 'a\r\n.',
    want: { lines: ['a|crlf'], done: false, rest: '', bareLf: 0 },
  },
];

for (const c of CASES) {
  test(`DataDecoder ${c.name}`, () => {
    assert.deepEqual(decode(c.input, c.lfEnds), c.want);
  });
  test(`DataDecoder ${c.name}, one byte at a time`, () => {
    assert.deepEqual(decode(c.input, c.lfEnds, 2048, 1), c.want);
  });
}

test('DataDecoder does cut a line longer than the limit into pieces', () => {
  const got = decode('0123456789abc\r\n.\r\n', false, 5);
  assert.deepEqual(got.lines, ['01234|partial', '56789|partial', 'abc|crlf']);
  assert.equal(got.done, true);
});

test('DataDecoder does not take a dot inside a long line for the end', () => {
  const got = decode('0123456789\r\n.\r\n', false, 5, 3);
  assert.deepEqual(got.lines, ['01234|partial', '56789|crlf']);
});

test('BdatDecoder does join lines across chunks and flush the tail', () => {
  const d = new BdatDecoder(2048);
  const lines = [
    ...d.push(Buffer.from('Subject: x\r')),
    ...d.push(Buffer.from('\n\r\nbo')),
    ...d.push(Buffer.from('dy\nend')),
  ].map(show);
  assert.deepEqual(lines, ['Subject: x|crlf', '|crlf', 'body|lf']);
  assert.equal(show(d.finish()!), 'end|none');
  assert.equal(d.bareLf, 1);
  assert.equal(d.bytes, 22);
});
