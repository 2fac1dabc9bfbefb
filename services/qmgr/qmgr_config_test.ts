// Tests for qmgr_config.ts with a real main.cf and master.cf in a
// temporary folder: per-transport limits, their defaults, and maxproc.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { loadSettings } from './qmgr_config';

function settingsFor(
  t: { after: (fn: () => void) => void },
  main: string[],
  master: string,
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmgr_config_test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'main.cf'), main.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'master.cf'), master);
  return loadSettings(Config.load({ configDir: dir }));
}

const MASTER = [
  'local unix - n n - - local',
  'smtp unix - - n - 7 smtp',
  'relay unix - - n - 0 smtp',
].join('\n');

const CASES: Array<[string, string[], string, string, number]> = [
  ['local recipient limit defaults to 1', [], 'local', 'recipientLimit', 1],
  ['local concurrency defaults to 2', [], 'local', 'concurrencyLimit', 2],
  ['smtp recipient limit defaults to 50', [], 'smtp', 'recipientLimit', 50],
  ['smtp concurrency defaults to 20', [], 'smtp', 'concurrencyLimit', 20],
  [
    'a per-transport setting wins',
    ['smtp_destination_recipient_limit = 5'],
    'smtp',
    'recipientLimit',
    5,
  ],
  [
    'the default_ parameter applies to others',
    ['default_destination_concurrency_limit = 9'],
    'relay',
    'concurrencyLimit',
    9,
  ],
  [
    'a bad per-transport value falls back',
    ['smtp_destination_recipient_limit = many'],
    'smtp',
    'recipientLimit',
    50,
  ],
  ['maxproc comes from master.cf', [], 'smtp', 'processLimit', 7],
  ['maxproc - is default_process_limit', [], 'local', 'processLimit', 100],
  ['maxproc 0 is no limit', [], 'relay', 'processLimit', Infinity],
];

for (const [name, main, transport, field, want] of CASES) {
  test(`reads limits: ${name}`, (t) => {
    const s = settingsFor(t, main, MASTER);
    const limits = s.limits(transport) as unknown as Record<string, number>;
    assert.equal(limits[field], want);
  });
}

test('reads queue timing in seconds with Postfix defaults', (t) => {
  const s = settingsFor(t, [], MASTER);
  assert.equal(s.queueRunDelay, 300);
  assert.equal(s.minBackoff, 300);
  assert.equal(s.maxBackoff, 4000);
  assert.equal(s.maxQueueLifetime, 5 * 86400);
  assert.equal(s.bounceQueueLifetime, 5 * 86400);
});
