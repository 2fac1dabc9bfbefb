// Tests for qmgr_config.ts with a real main.cf and master.cf in a
// temporary folder: per-transport limits, their defaults, and maxproc.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { loadSettings, parseFeedback } from './qmgr_config';

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

const FEEDBACK: Array<[string, number, number]> = [
  ['1', 5, 1],
  ['0.5', 5, 0.5],
  ['1/concurrency', 5, 0.2],
  ['1/sqrt_concurrency', 4, 0.5],
];

for (const [text, window, want] of FEEDBACK) {
  test(`parses feedback ${text} as ${want} at window ${window}`, () => {
    assert.equal(parseFeedback(text)?.(window), want);
  });
}

test('refuses feedback that is not a number from 0 to 1', () => {
  for (const text of ['2', '-1', 'fast', ''])
    assert.equal(parseFeedback(text), undefined, text);
});

test('reads feedback and rate delay per transport, else default_', (t) => {
  const s = settingsFor(
    t,
    [
      'smtp_destination_concurrency_positive_feedback = 1/concurrency',
      'default_destination_concurrency_negative_feedback = 1/sqrt_concurrency',
      'relay_destination_rate_delay = 2m',
      'default_destination_rate_delay = 1s',
    ],
    MASTER,
  );
  assert.equal(s.limits('smtp').positiveFeedback!(4), 0.25);
  assert.equal(s.limits('relay').positiveFeedback!(4), 1);
  assert.equal(s.limits('smtp').negativeFeedback!(4), 0.5);
  assert.equal(s.limits('relay').rateDelay, 120);
  assert.equal(s.limits('smtp').rateDelay, 1);
});

test('reads queue timing in seconds with Postfix defaults', (t) => {
  const s = settingsFor(t, [], MASTER);
  assert.equal(s.queueRunDelay, 300);
  assert.equal(s.minBackoff, 300);
  assert.equal(s.maxBackoff, 4000);
  assert.equal(s.maxQueueLifetime, 5 * 86400);
  assert.equal(s.bounceQueueLifetime, 5 * 86400);
});
