// pickup's checks on maildrop files, which their user owns and could
// change after postdrop: only postdrop's record types, one-line envelope
// values, and no attributes that would forge the Received: header; and
// postdrop's own refusal of such input. Real cleanup, real postdrop.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  runCommand,
  startSubmitInstance,
  queueNames,
  type SubmitInstance,
} from '../packages/commands/submit_testkit';
import {
  contentLines,
  readQueueFile,
} from '../services/cleanup/cleanup_testkit';
import { encodeRecord } from '../packages/queue/record';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Recs = Array<[string, string]>;

const GOOD: Recs = [
  ['T', '1796292509 187777'],
  ['S', 'me@x.example'],
  ['R', 'r@y.example'],
  ['M', ''],
  ['N', 'Subject: s'],
  ['N', ''],
  ['N', 'body'],
  ['X', ''],
  ['E', ''],
];

function encode(recs: Recs): Buffer {
  return Buffer.concat(recs.map(([t, d]) => encodeRecord(t, d)));
}

// A maildrop file as a user could leave it: complete (0744).
function dropFile(h: SubmitInstance, name: string, recs: Recs): void {
  const file = path.join(h.queueDir, 'maildrop', name);
  fs.writeFileSync(file, encode(recs));
  fs.chmodSync(file, 0o744);
}

async function withInstance(
  fn: (h: SubmitInstance) => Promise<void>,
): Promise<void> {
  const h = await startSubmitInstance();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

test('pickup takes a well-formed maildrop file when it is complete', () =>
  withInstance(async (h) => {
    dropFile(h, 'ABCDE1', GOOD);
    assert.equal(await h.pickup(), 1);
    assert.equal(h.incoming().length, 1);
  }));

test('pickup leaves a file alone while it is still being written (mode 0644)', () =>
  withInstance(async (h) => {
    dropFile(h, 'ABCDE2', GOOD);
    fs.chmodSync(path.join(h.queueDir, 'maildrop', 'ABCDE2'), 0o644);
    assert.equal(await h.pickup(), 0);
    assert.deepEqual(queueNames(h.queueDir, 'maildrop'), ['ABCDE2']);
  }));

const BAD: Array<[string, Recs]> = [
  [
    'a done-recipient record',
    GOOD.map(([t, d]): [string, string] => (t === 'R' ? ['D', d] : [t, d])),
  ],
  [
    'a size record after the envelope start',
    [...GOOD.slice(0, 2), ['C', '1'], ...GOOD.slice(2)],
  ],
  [
    'a newline in the sender',
    GOOD.map(([t, d]): [string, string] =>
      t === 'S' ? ['S', 'a@x\nR: b@y'] : [t, d],
    ),
  ],
  ['no end record', GOOD.slice(0, -1)],
];

for (const [what, recs] of BAD)
  test(`pickup sets a file aside in corrupt/ when it has ${what}`, () =>
    withInstance(async (h) => {
      dropFile(h, 'ABCDE3', recs);
      assert.equal(await h.pickup(), 0);
      assert.deepEqual(queueNames(h.queueDir, 'maildrop'), []);
      assert.deepEqual(queueNames(h.queueDir, 'corrupt'), ['ABCDE3']);
      // cleanup removes its unfinished file when pickup hangs up.
      for (let i = 0; i < 40 && h.incoming().length; i++) await sleep(50);
      assert.deepEqual(h.incoming(), []);
      assert.ok(
        h.logs.some((l) =>
          /warning: .*uid=\d+: (unexpected|malformed) record type|premature end of file/.test(
            l,
          ),
        ),
        h.logs.join('\n'),
      );
    }));

test('pickup drops attributes that would forge the Received: header', () =>
  withInstance(async (h) => {
    const forged: Recs = [
      GOOD[0],
      ['A', 'log_client_address=192.0.2.66'],
      ['A', 'envelope_id=E1'],
      ...GOOD.slice(1),
    ];
    dropFile(h, 'ABCDE4', forged);
    assert.equal(await h.pickup(), 1);
    const [file] = h.incoming();
    const attrs = readQueueFile(file)
      .filter((r) => r.type === 'A')
      .map((r) => r.data.toString());
    assert.ok(!attrs.some((a) => a.startsWith('log_client_address')));
    assert.ok(attrs.includes('envelope_id=E1'));
    assert.match(
      contentLines(file)[0],
      /^Received: by mx\.example\.com \(Postfix, from userid \d+\)$/,
    );
    assert.ok(
      h.logs.some((l) =>
        l.includes('ignoring attribute record: log_client_address'),
      ),
    );
  }));

test('postdrop refuses a record type that sendmail may not send and leaves no file', () =>
  withInstance(async (h) => {
    const recs: Recs = [
      ['S', 'a@x'],
      ['D', 'r@y'],
      ['M', ''],
      ['X', ''],
      ['E', ''],
    ];
    const r = await runCommand(h.configDir, 'postdrop', ['-r'], {
      input: encode(recs),
    });
    assert.equal(r.code, 65);
    assert.match(
      r.stderr,
      /^postdrop: fatal: uid=\d+: unexpected record type: 68\n$/,
    );
    assert.deepEqual(queueNames(h.queueDir, 'maildrop'), []);
  }));
