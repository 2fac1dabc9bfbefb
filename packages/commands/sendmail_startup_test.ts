// Tests of sendmail_startup: Intl.DateTimeFormat is lazy until
// startCommand, formatters made meanwhile still format, and mail_date,
// loaded meanwhile as the commands load it, writes the same dates.

import test from 'node:test';
import assert from 'node:assert/strict';
import { startCommand } from './sendmail_startup';
import { mailDate } from '../util/mail_date';

const EARLY = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
const WHEN = new Date(Date.UTC(2026, 11, 3, 10, 8, 29));

test('a formatter made before startCommand is not an ICU one yet', () => {
  assert.equal(
    typeof (EARLY as unknown as Record<string, unknown>).formatRange,
    'undefined',
  );
});

test('startCommand runs main and puts the real Intl.DateTimeFormat back', () => {
  let ran = false;
  startCommand(() => (ran = true));
  assert.equal(ran, true);
  const late = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
  assert.equal(typeof late.formatRange, 'function');
  assert.deepEqual(EARLY.formatToParts(WHEN), late.formatToParts(WHEN));
  assert.equal(EARLY.format(WHEN), late.format(WHEN));
  assert.deepEqual(EARLY.resolvedOptions(), late.resolvedOptions());
});

test('mail_date loaded while the formatter is lazy writes the zone name', () => {
  const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(WHEN)
    .find((p) => p.type === 'timeZoneName')?.value;
  assert.ok(mailDate(WHEN).endsWith(` (${zone})`), mailDate(WHEN));
});
