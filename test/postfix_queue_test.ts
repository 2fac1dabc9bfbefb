// A queue file written by Debian's Postfix 3.7 (test/fixtures), copied into
// our deferred/ queue, is delivered by us: the record format is Postfix's,
// so an operator can move a queue between Postfix and this system.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getpwnam } from '../packages/util/passwd';
import { isRoot, startInstance } from './harness';

const FIXTURE = path.join(
  __dirname,
  '..',
  '..',
  'test',
  'fixtures',
  'postfix_deferred_2rcpt',
);
const ID = '2F92216037E';

test('delivers a deferred message that Debian Postfix wrote', async () => {
  // The fixture's recipients are bob@[127.0.0.2] and carol@[127.0.0.2].
  const mta = await startInstance({
    main: { transport_maps: 'inline:{ {[127.0.0.2] = local:} }' },
  });
  try {
    const dir = path.join(mta.queueDir, 'deferred', ID[0]);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, ID);
    fs.copyFileSync(FIXTURE, file);
    fs.chmodSync(file, 0o700);
    if (isRoot()) {
      const pw = getpwnam('postfix')!;
      fs.chownSync(dir, pw.uid, pw.gid);
      fs.chownSync(file, pw.uid, pw.gid);
    }
    assert.equal(mta.postfix('flush').code, 0);
    const [bob] = await mta.waitForMaildir('bob', 1);
    const [carol] = await mta.waitForMaildir('carol', 1);
    for (const text of [bob, carol]) {
      assert.match(text, /^Return-Path: <alice@example\.org>/);
      assert.match(text, /by [^\n]* \(Postfix\) with ESMTP id 2F92216037E/);
      // Postfix stored the 3000-byte line as an L record and an N record.
      assert.ok(text.split(/\r?\n/).some((line) => line.length === 3000));
    }
    await mta.waitForLog(new RegExp(`${ID}: removed`));
    assert.match(
      mta.log(),
      new RegExp(
        `${ID}: to=<bob@\\[127\\.0\\.0\\.2\\]>, relay=local, .*status=sent`,
      ),
    );
  } finally {
    await mta.destroy();
  }
});
