// Tests for the name and domain restrictions: the syntax checks as a
// table, and whole sessions against an in-process smtpd whose
// reject_unknown_*_domain asks a DNS server of the test's own.

import test from 'node:test';
import assert from 'node:assert/strict';
import { DnsSink } from '../../test/sink/dns_sink';
import {
  fqdnHostname,
  nonFqdnAddress,
  validHostname,
} from './smtpd_check_name';
import { SmtpTestClient, startInstance } from './smtpd_testkit';

const NAMES: Array<[string, boolean, boolean]> = [
  // name, valid, fully qualified
  ['mail.example.org', true, true],
  ['mail.example.org.', true, true],
  ['localhost', true, false],
  ['[192.0.2.1]', true, true],
  ['[IPv6:2001:db8::1]', true, true],
  ['192.0.2.1', true, true],
  ['300.1.1.1', false, false],
  ['bad!name', false, false],
  ['-lead.example', false, false],
  ['a..b', false, false],
  ['[not-an-ip]', false, false],
  ['x'.repeat(64) + '.example', false, false],
];

for (const [name, valid, fqdn] of NAMES) {
  test(`validHostname and fqdnHostname do judge "${name.slice(0, 30)}"`, () => {
    assert.equal(validHostname(name), valid);
    assert.equal(fqdnHostname(name), fqdn);
  });
}

const ADDRESSES: Array<[string, boolean]> = [
  ['', false],
  ['user@example.org', false],
  ['user@[192.0.2.1]', false],
  ['user', true],
  ['user@host', true],
  ['user@bad!host.example', true],
];

for (const [address, bad] of ADDRESSES) {
  test(`nonFqdnAddress does ${bad ? '' : 'not '}flag <${address}>`, () => {
    assert.equal(nonFqdnAddress(address), bad);
  });
}

async function dialogue(
  port: number,
  commands: string[],
): Promise<Array<string | undefined>> {
  const c = await SmtpTestClient.connect(port);
  const out: Array<string | undefined> = [(await c.reply())?.[0]];
  for (const cmd of commands) {
    c.send(cmd);
    const r = await c.reply();
    out.push(r?.[r.length - 1]);
  }
  c.close();
  return out.slice(1);
}

test('smtpd_helo_restrictions do refuse invalid and non-FQDN HELO names', async () => {
  const inst = await startInstance({
    smtpd_delay_reject: 'no',
    smtpd_helo_restrictions:
      'reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname',
  });
  try {
    assert.deepEqual(
      await dialogue(inst.port, [
        'EHLO bad!name',
        'HELO localhost',
        'EHLO [127.0.0.1]',
        'HELO client.example.org',
      ]),
      [
        '501 5.5.2 <bad!name>: Helo command rejected: Invalid name',
        '504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname',
        '250 CHUNKING', // the last EHLO line
        '250 mx.example.com',
      ],
    );
  } finally {
    await inst.close();
  }
});

test('reject_non_fqdn_sender and _recipient do answer 504 5.5.2 at RCPT', async () => {
  const inst = await startInstance({
    smtpd_sender_restrictions: 'reject_non_fqdn_sender',
    smtpd_recipient_restrictions:
      'reject_non_fqdn_recipient, permit_mynetworks, reject_unauth_destination',
  });
  try {
    assert.deepEqual(
      await dialogue(inst.port, [
        'HELO client.example.org',
        'MAIL FROM:<a@host>',
        'RCPT TO:<u@mx.example.com>',
        'RSET',
        'MAIL FROM:<a@client.example.org>',
        'RCPT TO:<u@host>',
        'RCPT TO:<u@mx.example.com>',
      ]),
      [
        '250 mx.example.com',
        '250 2.1.0 Ok',
        '504 5.5.2 <a@host>: Sender address rejected: need fully-qualified address',
        '250 2.0.0 Ok',
        '250 2.1.0 Ok',
        '504 5.5.2 <u@host>: Recipient address rejected: need fully-qualified address',
        '250 2.1.5 Ok',
      ],
    );
  } finally {
    await inst.close();
  }
});

test('reject_unknown_sender_domain does ask DNS: MX, then A, else 450 4.1.8', async () => {
  const dns = new DnsSink({
    'mx.example.net': { MX: [[10, 'in.mx.example.net']] },
    'a.example.net': { A: ['192.0.2.1'] },
    'broken.example.net': { servfail: true },
  });
  const server = await dns.listen();
  const inst = await startInstance({
    smtpd_dns_resolver_address: server,
    smtpd_sender_restrictions: 'reject_unknown_sender_domain',
  });
  const notFound = (a: string) =>
    `450 4.1.8 <${a}>: Sender address rejected: Domain not found`;
  try {
    const commands = ['HELO client.example.org'];
    for (const d of ['mx', 'a', 'nx', 'broken'])
      commands.push(
        `MAIL FROM:<s@${d}.example.net>`,
        'RCPT TO:<u@mx.example.com>',
        'RSET',
      );
    const replies = await dialogue(inst.port, commands);
    assert.deepEqual(
      replies.filter((_, i) => i % 3 === 2),
      [
        '250 2.1.5 Ok',
        '250 2.1.5 Ok',
        notFound('s@nx.example.net'),
        notFound('s@broken.example.net'),
      ],
    );
    assert.ok(dns.queries.includes('a.example.net/1'));
  } finally {
    await inst.close();
    await dns.close();
  }
});
