// The local settings read from a real main.cf: Postfix's defaults from
// the catalog agree with defaultSettings(), and values are parsed.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Config } from '../../packages/config/config';
import { defaultSettings, loadSettings, splitList } from './local_state';
import { removeDir, tempDir } from './local_testkit';

function settingsFrom(lines: string[]) {
  const dir = tempDir();
  try {
    fs.writeFileSync(path.join(dir, 'main.cf'), lines.join('\n') + '\n');
    return loadSettings(Config.load({ configDir: dir }));
  } finally {
    removeDir(dir);
  }
}

test('does match defaultSettings when main.cf is empty', () => {
  const got = settingsFrom(['myhostname = localhost']);
  const want = defaultSettings();
  const { aliasMaps: _a, myhostname: _m, ...rest } = got;
  const { aliasMaps: _b, myhostname: _n, ...wantRest } = want;
  assert.deepEqual(rest, wantRest);
  assert.deepEqual(got.aliasMaps, ['hash:/etc/aliases']);
});

test('does parse values and keep forward_path unexpanded', () => {
  const got = settingsFrom([
    'myhostname = localhost',
    'mailbox_size_limit = 0',
    'deliver_lock_delay = 2s',
    'command_time_limit = 1m',
    'local_delivery_without_passwd = yes',
    'mailbox_delivery_lock = FLOCK',
    'forward_path = $home/.forward${recipient_delimiter}${extension}',
  ]);
  assert.equal(got.mailboxSizeLimit, 0);
  assert.equal(got.deliverLockDelay, 2);
  assert.equal(got.commandTimeLimit, 60);
  assert.equal(got.withoutPasswd, true);
  assert.deepEqual(got.mailboxDeliveryLock, ['flock']);
  assert.deepEqual(got.forwardPath, [
    '$home/.forward${recipient_delimiter}${extension}',
  ]);
});

const LISTS: Array<[string, string[]]> = [
  ['a, b c', ['a', 'b', 'c']],
  ['${x?a b}, c', ['${x?a b}', 'c']],
  ['', []],
];

for (const [text, want] of LISTS) {
  test(`does split "${text}" into ${JSON.stringify(want)}`, () => {
    assert.deepEqual(splitList(text), want);
  });
}
