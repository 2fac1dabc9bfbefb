// Tests for the disconnect line's command counters.

import test from 'node:test';
import assert from 'node:assert/strict';
import { CommandStats } from './smtpd_state';

const CASES: Array<{
  name: string;
  calls: Array<[string, boolean]>;
  want: string;
}> = [
  { name: 'no command', calls: [], want: 'commands=0/0' },
  {
    name: 'all commands succeed',
    calls: [
      ['ehlo', true],
      ['mail', true],
      ['rcpt', true],
      ['data', true],
      ['quit', true],
    ],
    want: 'ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5',
  },
  {
    name: 'some fail, in Postfix order whatever the order sent',
    calls: [
      ['quit', true],
      ['rcpt', false],
      ['rcpt', true],
      ['helo', true],
      ['xyz', false],
    ],
    want: 'helo=1 rcpt=1/2 quit=1 unknown=0/1 commands=3/5',
  },
];

for (const c of CASES) {
  test(`CommandStats does print "${c.want}" when ${c.name}`, () => {
    const stats = new CommandStats();
    for (const [name, ok] of c.calls) stats.count(name, ok);
    assert.equal(stats.format(), c.want);
  });
}
