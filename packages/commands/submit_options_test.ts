// Tests of sendmail's command line: the modes, the DSN options and
// EX_USAGE for values Postfix refuses.

import test from 'node:test';
import assert from 'node:assert/strict';
import { MODE, parseSendmailArgs, TRACE_FLAG } from './submit_options';
import { CommandExit } from './submit_exit';

test('parseSendmailArgs takes the envelope options when given as programs do', () => {
  const o = parseSendmailArgs([
    '-t',
    '-oi',
    '-fme@x.example',
    '-F',
    'Ann Other',
    '-N',
    'success,delay',
    '-R',
    'hdrs',
    '-V',
    'env-1',
    '-oem',
    '--',
    'r@y.example',
  ]);
  assert.equal(o.extract, true);
  assert.equal(o.ignoreDot, true);
  assert.equal(o.sender, 'me@x.example');
  assert.equal(o.fullname, 'Ann Other');
  assert.equal(o.notify, 2 | 8); // SUCCESS | DELAY, as dsn.h
  assert.equal(o.ret, 2);
  assert.equal(o.envid, 'env-1');
  assert.deepEqual(o.recipients, ['r@y.example']);
});

const MODES: Array<[string[], string, string[]]> = [
  [['-bs'], MODE.SMTP, []],
  [['-bp'], MODE.MAILQ, []],
  [['-bi'], MODE.NEWALIASES, []],
  [['-I'], MODE.NEWALIASES, []],
  [['-q'], MODE.FLUSH, ['-f']],
  [['-q30m'], MODE.FLUSH, ['-f']],
  [['-qRexample.com'], MODE.FLUSH, ['-s', 'example.com']],
  [['-qIABCDEF123'], MODE.FLUSH, ['-i', 'ABCDEF123']],
  [['-bm', 'a'], MODE.ENQUEUE, []],
];

for (const [argv, mode, flush] of MODES)
  test(`parseSendmailArgs picks mode ${mode} when given ${argv[0]}`, () => {
    const o = parseSendmailArgs(argv);
    assert.equal(o.mode, mode);
    assert.deepEqual(o.flushArgs, flush);
  });

test('parseSendmailArgs sets trace flags when given -bv and -v', () => {
  const o = parseSendmailArgs(['-bv', '-v', 'a']);
  assert.equal(o.traceFlags, TRACE_FLAG.VERIFY | TRACE_FLAG.RECORD);
  assert.equal(o.verbose, 1);
});

const BAD: string[][] = [
  ['-N', 'sometimes'],
  ['-N', 'never,success'],
  ['-R', 'most'],
  ['-V', 'a+b'],
  ['-y'],
  ['-f'],
];

for (const argv of BAD)
  test(`parseSendmailArgs exits with EX_USAGE when given ${argv.join(' ')}`, () => {
    assert.throws(
      () => parseSendmailArgs(argv),
      (err: unknown) => err instanceof CommandExit && err.code === 64,
    );
  });
