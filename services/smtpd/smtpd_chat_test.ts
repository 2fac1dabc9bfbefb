// Tests for the one reply builder: enhanced code class, line format.

import test from 'node:test';
import assert from 'node:assert/strict';
import { formatMultiline, formatReply, reply } from './smtpd_chat';

const CASES: Array<[number, string, string, string]> = [
  [250, '2.0.0', 'Ok', '250 2.0.0 Ok\r\n'],
  [504, '4.5.2', 'x', '504 5.5.2 x\r\n'],
  [450, '5.7.1', 'y', '450 4.7.1 y\r\n'],
  [220, '', 'mx ESMTP Postfix', '220 mx ESMTP Postfix\r\n'],
  [501, '5.1.7', 'bad\r\nRSET', '501 5.1.7 bad  RSET\r\n'],
];

for (const [code, dsn, text, want] of CASES) {
  test(`formatReply does give ${JSON.stringify(want)} for ${code} ${dsn}`, () => {
    assert.equal(formatReply(reply(code, dsn, text)), want);
  });
}

test('formatMultiline does mark all but the last line with a dash', () => {
  assert.equal(
    formatMultiline(250, ['mx', 'PIPELINING', 'CHUNKING']),
    '250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n',
  );
});
