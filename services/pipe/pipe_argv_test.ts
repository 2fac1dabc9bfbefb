// Unit tests of pipe(8)'s argv= macro expansion and of the h, q and u
// flags, table-driven over one delivery request.

import test from 'node:test';
import assert from 'node:assert/strict';
import { expandArgv, PipeMacroError } from './pipe_argv';
import type { DeliveryRequest } from '../../packages/queue/delivery';

function request(recipients: string[], sender = 'Ann@Ex.Example') {
  return {
    queueId: 'ABC123',
    sender,
    nexthop: 'Mx.Example',
    size: 321,
    logClientAddress: '192.0.2.1',
    logClientName: 'client.example',
    logHeloName: 'helo.example',
    logClientPort: '2525',
    logProtocolName: 'ESMTP',
    recipients: recipients.map((r, i) => ({
      recipient: r,
      originalRecipient: `orig${i}@Ex.Example`,
      offset: i,
      dsnOrigRcpt: '',
      notifyFlags: 0,
    })),
  } as unknown as DeliveryRequest;
}

const CASES: Array<[string, string, string[], string[]]> = [
  [
    '',
    '${sender} ${nexthop} ${size} ${queue_id}',
    ['Bo@X.Example'],
    ['Ann@Ex.Example', 'Mx.Example', '321', 'ABC123'],
  ],
  [
    '',
    '${user} ${extension} ${mailbox} ${domain}',
    ['Bo+Tag@X.Example'],
    ['Bo', 'Tag', 'Bo+Tag', 'X.Example'],
  ],
  [
    'h',
    '${recipient} ${domain} ${nexthop}',
    ['Bo@X.Example'],
    ['Bo@x.example', 'x.example', 'mx.example'],
  ],
  [
    'u',
    '${recipient} ${user}',
    ['Bo+Tag@X.Example'],
    ['bo+tag@X.Example', 'bo'],
  ],
  ['q', '${recipient}', ['a b@x'], ['"a b"@x']],
  ['', '-d${recipient}', ['a@x', 'b@x'], ['-da@x', '-db@x']],
  ['', '$sender $(nexthop)', ['a@x'], ['Ann@Ex.Example', 'Mx.Example']],
  ['', '${extension?+}${extension} ${extension:none}', ['a@x'], ['', 'none']],
  [
    '',
    '${client_address} ${client_helo} ${client_port}',
    ['a@x'],
    ['192.0.2.1', 'helo.example', '2525'],
  ],
];

for (const [flags, argv, rcpts, want] of CASES)
  test(`does expand ${argv} with flags "${flags}" for ${rcpts.join(',')}`, () => {
    const got = expandArgv(argv.split(' '), {
      req: request(rcpts),
      flags,
      nullSender: 'MAILER-DAEMON',
      recipientDelimiter: '+',
    });
    assert.deepEqual(got, want);
  });

test('does give null_sender for the null sender', () => {
  const got = expandArgv(['${sender}'], {
    req: request(['a@x'], ''),
    flags: '',
    nullSender: 'MAILER-DAEMON',
    recipientDelimiter: '',
  });
  assert.deepEqual(got, ['MAILER-DAEMON']);
});

test('does refuse an unknown macro', () => {
  const ctx = {
    req: request(['a@x']),
    flags: '',
    nullSender: '',
    recipientDelimiter: '',
  };
  assert.throws(() => expandArgv(['${bogus}'], ctx), PipeMacroError);
});
