// Unit tests of the MIME structure that content checks follow: Content-
// Type parameters, and which lines are part or attached-message headers.

import test from 'node:test';
import assert from 'node:assert/strict';
import { MIME_CLASS, MimeTracker, parseContentType } from './cleanup_mime';

test('does read the boundary of a multipart type, quoted or not', () => {
  const table: Array<[string, string | undefined, boolean]> = [
    ['multipart/mixed; boundary="a b"', 'a b', true],
    ['Multipart/Alternative;\n boundary=xyz', 'xyz', true],
    ['text/plain; charset=us-ascii', undefined, false],
  ];
  for (const [value, boundary, multipart] of table) {
    const got = parseContentType(value);
    assert.equal(got.boundary, boundary, value);
    assert.equal(got.multipart, multipart, value);
  }
});

// Feed lines; report the class of each line that is a header.
function classify(primaryType: string, lines: string[]): string[] {
  const mime = new MimeTracker();
  mime.noteContentType(primaryType);
  mime.endHeaders();
  const out: string[] = [];
  for (const line of lines) {
    if (mime.inHeaders) {
      if (line === '') {
        mime.endHeaders();
        out.push('end');
        continue;
      }
      if (/^content-type:/i.test(line)) mime.noteContentType(line.slice(13));
      out.push(mime.headerClass);
      continue;
    }
    out.push(mime.bodyLine(line) ? 'boundary' : 'body');
  }
  return out;
}

test('does see part headers after a boundary and body after the blank line', () => {
  const got = classify('multipart/mixed; boundary=b1', [
    'preamble',
    '--b1',
    'Content-Type: text/plain',
    '',
    'text',
    '--b1--',
    'epilogue',
  ]);
  assert.deepEqual(got, [
    'body',
    'boundary',
    MIME_CLASS.MULTIPART,
    'end',
    'body',
    'boundary',
    'body',
  ]);
});

test('does see the headers of an attached message as nested', () => {
  const got = classify('multipart/mixed; boundary=b1', [
    '--b1',
    'Content-Type: message/rfc822',
    '',
    'Subject: inner',
    '',
    'inner body',
    '--b1--',
  ]);
  assert.deepEqual(got, [
    'boundary',
    MIME_CLASS.MULTIPART,
    'end',
    MIME_CLASS.NESTED,
    'end',
    'body',
    'boundary',
  ]);
});

test('does not take a line that only starts like a boundary', () => {
  const got = classify('multipart/mixed; boundary=b1', ['--b1x', '--b1']);
  assert.deepEqual(got, ['body', 'boundary']);
});
