// Tests for the parts of the session that parse and announce: the MAIL
// and RCPT argument split and the EHLO keyword list.

import test from 'node:test';
import assert from 'node:assert/strict';
import { ehloLines, splitPathArgs } from './smtpd_proto';
import type { SmtpdSettings } from './smtpd_settings';

const SPLITS: Array<
  [string, string, { path: string; params: string[] } | null]
> = [
  ['FROM:<a@b>', 'FROM', { path: '<a@b>', params: [] }],
  [
    'from: <a@b> SIZE=10 BODY=8BITMIME',
    'FROM',
    { path: '<a@b>', params: ['SIZE=10', 'BODY=8BITMIME'] },
  ],
  [
    'FROM:<"a> b"@c> SIZE=1',
    'FROM',
    { path: '<"a> b"@c>', params: ['SIZE=1'] },
  ],
  ['FROM:a@b SIZE=1', 'FROM', { path: 'a@b', params: ['SIZE=1'] }],
  ['TO:<>', 'TO', { path: '<>', params: [] }],
  ['TO <a@b>', 'TO', null],
];

for (const [args, keyword, want] of SPLITS) {
  test(`splitPathArgs does split "${args}"`, () => {
    assert.deepEqual(splitPathArgs(args, keyword), want);
  });
}

function settings(over: Partial<SmtpdSettings>): SmtpdSettings {
  return {
    myhostname: 'mx',
    messageSizeLimit: 10240000,
    disableVrfy: false,
    smtputf8: true,
    discardEhloKeywords: [],
    ...over,
  } as SmtpdSettings;
}

test('ehloLines does list the keywords in Postfix order', () => {
  assert.deepEqual(ehloLines(settings({})), [
    'mx',
    'PIPELINING',
    'SIZE 10240000',
    'VRFY',
    'ETRN',
    'ENHANCEDSTATUSCODES',
    '8BITMIME',
    'DSN',
    'SMTPUTF8',
    'CHUNKING',
  ]);
});

test('ehloLines does give bare SIZE when message_size_limit is 0 and drop discarded keywords', () => {
  const lines = ehloLines(
    settings({
      messageSizeLimit: 0,
      discardEhloKeywords: ['DSN', 'CHUNKING'],
      disableVrfy: true,
    }),
  );
  assert.deepEqual(lines, [
    'mx',
    'PIPELINING',
    'SIZE',
    'ETRN',
    'ENHANCEDSTATUSCODES',
    '8BITMIME',
    'SMTPUTF8',
  ]);
});
