// Tests for submit_addresses.ts through parseAddressList: header address
// text read as Postfix's tok822 parser reads it.

import test from 'node:test';
import assert from 'node:assert/strict';
import { parseAddressList } from './submit_message';

// [header value, the addresses taken from it]
const CASES: Array<[string, string[]]> = [
  [
    ' u@x.example\rBcc: evil@x.example',
    ['u@x.example', '"Bcc:evil"@x.example'],
  ],
  [' u@x.example,\r\n\tc@x.example', ['u@x.example', 'c@x.example']],
  [' u@x.example Bcc: <e@x.example>', ['u@x.example', 'e@x.example']],
  [' friends: a@x.example, b@x.example;', ['a@x.example', 'b@x.example']],
  [' "x:y" <c@x.example>, d@x.example', ['c@x.example', 'd@x.example']],
  [' A B <a@x.example> (note: c)', ['a@x.example']],
  [' <@r.example:u@x.example>', ['u@x.example']],
];

for (const [text, want] of CASES)
  test(`does take ${JSON.stringify(want)} from ${JSON.stringify(text)}`, () => {
    assert.deepEqual(parseAddressList(text), want);
  });
