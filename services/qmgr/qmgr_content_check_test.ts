// Unit tests of qmgr_content_check: damaged content records are found in
// files that come back from deferred/, sound ones pass, and fresh files
// from incoming/ are not read.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readEnvelope } from '../../packages/queue/queue_file';
import { contentDamage } from './qmgr_content_check';
import { buildQueueFile } from './qmgr_fixture';

const SPEC = {
  sender: 's@test.example',
  recipients: [{ address: 'r@test.example' }],
  lines: ['Subject: check', '', 'hello body'],
};

// The record holding `data` (under 128 bytes) gets type byte `type`.
function retype(file: Buffer, data: string, type: string): Buffer {
  const buf = Buffer.from(file);
  buf[buf.indexOf(data) - 2] = type.charCodeAt(0);
  return buf;
}

const CASES: Array<[string, Buffer, string, RegExp | null]> = [
  ['a sound file', buildQueueFile(SPEC), 'deferred', null],
  [
    'an unknown type inside the content',
    retype(buildQueueFile(SPEC), 'hello body', '~'),
    'deferred',
    /^bad content record: ~$/,
  ],
  [
    'an envelope record inside the content',
    retype(buildQueueFile(SPEC), 'hello body', 'R'),
    'deferred',
    /^bad content record: R$/,
  ],
  [
    'damage in a fresh file from incoming',
    retype(buildQueueFile(SPEC), 'hello body', '~'),
    'incoming',
    null,
  ],
];

for (const [name, bytes, from, want] of CASES)
  test(`does report ${want ? 'damage' : 'nothing'} for ${name}`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qcc-'));
    try {
      const file = path.join(dir, 'ABCDEF');
      fs.writeFileSync(file, bytes, { mode: 0o700 });
      const env = await readEnvelope(file);
      const why = await contentDamage(env, from);
      if (want) assert.match(String(why), want);
      else assert.equal(why, null);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
