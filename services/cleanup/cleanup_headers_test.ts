// Tests that the addresses found in a header are those nodemailer's
// addressparser finds (bare local parts aside), whichever way found.

import test from 'node:test';
import assert from 'node:assert/strict';
import addressparser from 'nodemailer/lib/addressparser';
import { addressesOf } from './cleanup_headers';

const VALUES = [
  ' <bench@localhost>',
  'bench@client.test',
  ' John Smith <john.smith@example.com> ',
  'J. R. Smith <j_r+tag@mail.example.org>',
  '"Smith, John" <john@example.com>',
  'john@example.com (John Smith)',
  'a@example.com, b@example.com',
  'undisclosed-recipients:;',
  'Friends: a@example.com, b@example.com;',
  'Jörg <joerg@example.de>',
  '<a@example.com> trailing',
  '<@relay.example:user@example.com>',
  '',
];

function parsed(value: string): string[] {
  return addressparser(value, { flatten: true })
    .map((item) => item.address)
    .filter((address): address is string => Boolean(address));
}

for (const value of VALUES)
  test(`addressesOf does find what addressparser finds in ${JSON.stringify(value)}`, () => {
    assert.deepEqual(addressesOf(value), parsed(value));
  });

test('addressesOf does take a lone word for a local part, as Postfix', () => {
  assert.deepEqual(addressesOf(' joe'), ['joe']);
});
