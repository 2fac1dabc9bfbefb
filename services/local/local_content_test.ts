// Reading a delivery request's content for local: the first bytes are
// read once per request and every copy is written from them; the
// Delivered-To: headers are found in them.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { COPY_MAILDIR, messageChunks, requestMessage } from './local_content';
import {
  removeDir,
  tempDir,
  testRequest,
  writeQueueFile,
} from './local_testkit';

const LINES = ['Delivered-To: Old@Example.com', 'Subject: s', '', 'body'];

function copyText(msg: ReturnType<typeof requestMessage>): string {
  const opts = { ...COPY_MAILDIR, originalRecipient: '', deliveredTo: '' };
  return Buffer.concat([...messageChunks(msg, opts)]).toString();
}

test('does write every copy from the bytes read once when the content is small', () => {
  const dir = tempDir();
  const m = { lines: LINES };
  const q = writeQueueFile(dir, m);
  const req = testRequest(q, m);
  req.size = fs.statSync(q.file).size - q.dataOffset;
  const fd = fs.openSync(q.file, 'r+');
  try {
    const msg = requestMessage(req, fd);
    assert.deepEqual([...msg.deliveredTo], ['old@example.com']);
    const first = copyText(msg);
    // Had the copy read the file again, it would find these bytes.
    fs.writeSync(fd, Buffer.alloc(req.size, 'Z'), 0, req.size, q.dataOffset);
    assert.equal(copyText(msg), first);
    assert.match(first, /\nSubject: s\n\nbody\n$/);
  } finally {
    fs.closeSync(fd);
    removeDir(dir);
  }
});

test('does read past the first bytes when the request gives a short size', () => {
  const dir = tempDir();
  const m = { lines: LINES };
  const q = writeQueueFile(dir, m);
  const req = { ...testRequest(q, m), size: 0 };
  const fd = fs.openSync(q.file, 'r');
  try {
    const msg = requestMessage(req, fd);
    assert.match(copyText(msg), /\nSubject: s\n\nbody\n$/);
  } finally {
    fs.closeSync(fd);
    removeDir(dir);
  }
});
