// Tests that loading the submission path builds no Intl formatter (ICU's
// start costs some 20 ms of a sendmail run) and that mail_date still
// writes the zone name once it is asked for a date.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const MAIL_DATE = path.join(__dirname, '..', 'util', 'mail_date.js');

// Counts Intl.DateTimeFormat constructions around a require and a call.
const PROBE = `
let made = 0;
const Real = Intl.DateTimeFormat;
Intl.DateTimeFormat = function (...a) { made++; return new Real(...a); };
const { mailDate } = require(${JSON.stringify(MAIL_DATE)});
const loaded = made;
const text = mailDate(new Date(Date.UTC(2026, 11, 3, 10, 8, 29)));
console.log(JSON.stringify({ loaded, used: made, text }));
`;

test('does build no Intl formatter when mail_date is loaded', () => {
  const out = JSON.parse(
    execFileSync(process.execPath, ['-e', PROBE], {
      env: { ...process.env, TZ: 'UTC' },
      encoding: 'utf8',
    }),
  );
  assert.equal(out.loaded, 0);
  assert.equal(out.used, 1);
  assert.equal(out.text, 'Thu,  3 Dec 2026 10:08:29 +0000 (UTC)');
});
