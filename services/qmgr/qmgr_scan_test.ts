// Tests for qmgr_scan.ts on real directories: flat and hashed queues,
// files that are not ready, cooling files, and names that are not IDs.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { scanQueue } from './qmgr_scan';

interface Entry {
  at: string; // path under the queue
  mode?: number;
  future?: boolean;
}

const ENTRIES: Entry[] = [
  { at: 'AAAA1' },
  { at: 'B/BBBB1' },
  { at: 'C/D/CCCC1' },
  { at: 'DDDD1', mode: 0o600 }, // still being written
  { at: 'EEEE1', future: true }, // cooling down
  { at: '123456.99.1' }, // cleanup's temporary name
];

function makeQueue(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_scan_test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const later = Date.now() / 1000 + 3600;
  for (const e of ENTRIES) {
    const file = path.join(dir, e.at);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'x', { mode: 0o600 });
    fs.chmodSync(file, e.mode ?? 0o700);
    if (e.future) fs.utimesSync(file, later, later);
  }
  return dir;
}

const CASES: Array<[string, boolean, number, string[]]> = [
  ['ready files at every hash depth', false, 100, ['AAAA1', 'BBBB1', 'CCCC1']],
  [
    'cooling files too when told to',
    true,
    100,
    ['AAAA1', 'BBBB1', 'CCCC1', 'EEEE1'],
  ],
  ['no more than the limit', false, 2, ['AAAA1', 'BBBB1']],
];

for (const [what, ignoreTime, limit, want] of CASES) {
  test(`scans ${what}`, async (t) => {
    const dir = makeQueue(t);
    const now = Date.now() / 1000;
    const got = await scanQueue(dir, { ignoreTime, now, limit });
    if (limit < 100) assert.equal(got.length, limit);
    else assert.deepEqual(got.sort(), want);
  });
}

test('scans a missing queue directory as empty', async () => {
  const got = await scanQueue('/nonexistent/queue', {
    ignoreTime: false,
    now: Date.now() / 1000,
    limit: 10,
  });
  assert.deepEqual(got, []);
});
