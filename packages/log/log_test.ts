// Tests of the log line shape and severities, as Postfix writes them.

import test from 'node:test';
import assert from 'node:assert/strict';
import { formatLine, initLog, logTimestamp, msg, printable } from './log';

test('does shape a line as "Mon DD HH:MM:SS host postfix/name[pid]: text"', () => {
  initLog({ processName: 'qmgr', hostname: 'mail.example.com', sinks: [] });
  const when = new Date(2026, 0, 5, 7, 8, 9);
  assert.equal(logTimestamp(when), 'Jan 05 07:08:09');
  assert.equal(
    formatLine('ABC: removed', when),
    `Jan 05 07:08:09 mail postfix/qmgr[${process.pid}]: ABC: removed`,
  );
});

test('does prefix each severity with Postfix word', () => {
  const lines: string[] = [];
  initLog({
    processName: 'smtpd',
    syslogName: 'postfix/submission',
    sinks: [(line) => lines.push(line)],
    onFatal: () => undefined,
  });
  msg.info('connect from x[1.2.3.4]');
  msg.warn('w');
  msg.error('e');
  assert.throws(() => msg.fatal('f'));
  assert.throws(() => msg.panic('p'));
  msg.verbose('not shown');
  const texts = lines.map((l) => l.replace(/^.*?\]: /, ''));
  assert.deepEqual(texts, [
    'connect from x[1.2.3.4]',
    'warning: w',
    'error: e',
    'fatal: f',
    'panic: p',
  ]);
  assert.match(lines[0], / postfix\/submission\/smtpd\[\d+\]: /);
});

test('does make network text safe for one log line', () => {
  assert.equal(printable('a\r\nb\x00c\u00e9'), 'a??b?c?');
  assert.equal(printable('x'.repeat(300), 10), 'xxxxxxxxxx');
});
