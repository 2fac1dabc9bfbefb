// Tests of resolveAddress and rewriteAddress against a real main.cf in a
// temporary folder, with inline: and texthash: transport_maps.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '../config/config';
import {
  RESOLVE_CLASS,
  RESOLVE_FLAG,
  resolveAddress,
  rewriteAddress,
} from './resolve';
import { initLog } from '../log/log';

initLog({ processName: 'resolve_test', sinks: [] });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resolve-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const BASE = {
  myhostname: 'mx.example.com',
  mydomain: 'example.com',
  myorigin: '$mydomain',
  mydestination: '$myhostname, localhost.$mydomain, localhost, $mydomain',
  inet_interfaces: '127.0.0.1',
  compatibility_level: '3.6',
  relay_domains: 'relay.example',
  virtual_alias_domains: 'alias.example',
  virtual_mailbox_domains: 'vmail.example',
  recipient_delimiter: '+',
};

let configCount = 0;
function config(overrides: Record<string, string> = {}): Config {
  const configDir = path.join(dir, `c${configCount++}`);
  fs.mkdirSync(configDir);
  fs.writeFileSync(path.join(configDir, 'main.cf'), '');
  return Config.load({ configDir, overrides: { ...BASE, ...overrides } });
}

const transportFile = path.join(dir, 'transport');
fs.writeFileSync(
  transportFile,
  [
    'user+ext@remote.example   smtp:[exact.example]',
    'user@remote.example       smtp:[base.example]',
    'remote.example            :[domain.example]:2525',
    '.sub.example              relay:',
    'sub.example               smtp:[only-self.example]',
  ].join('\n') + '\n',
);

interface Case {
  name: string;
  address: string;
  overrides?: Record<string, string>;
  want: {
    transport: string;
    nexthop: string;
    recipient: string;
    class: string;
  };
}

const CASES: Case[] = [
  {
    name: 'the domain is in mydestination',
    address: 'joe@MX.example.com',
    want: {
      transport: 'local',
      nexthop: 'mx.example.com',
      recipient: 'joe@MX.example.com',
      class: 'local',
    },
  },
  {
    name: 'the address has no domain',
    address: 'joe',
    want: {
      transport: 'local',
      nexthop: 'mx.example.com',
      recipient: 'joe@example.com',
      class: 'local',
    },
  },
  {
    name: 'the domain is our interface literal',
    address: 'joe@[127.0.0.1]',
    want: {
      transport: 'local',
      nexthop: 'mx.example.com',
      recipient: 'joe@[127.0.0.1]',
      class: 'local',
    },
  },
  {
    name: 'the domain is in relay_domains',
    address: 'a@relay.example',
    want: {
      transport: 'relay',
      nexthop: 'relay.example',
      recipient: 'a@relay.example',
      class: 'relay',
    },
  },
  {
    name: 'a subdomain of relay_domains is asked',
    address: 'a@x.relay.example',
    want: {
      transport: 'relay',
      nexthop: 'x.relay.example',
      recipient: 'a@x.relay.example',
      class: 'relay',
    },
  },
  {
    name: 'the domain is in virtual_alias_domains',
    address: 'a@alias.example',
    want: {
      transport: 'error',
      nexthop: '5.1.1 User unknown in virtual alias table',
      recipient: 'a@alias.example',
      class: 'virtual_alias',
    },
  },
  {
    name: 'the domain is in virtual_mailbox_domains',
    address: 'a@vmail.example',
    want: {
      transport: 'virtual',
      nexthop: 'vmail.example',
      recipient: 'a@vmail.example',
      class: 'virtual',
    },
  },
  {
    name: 'the domain is elsewhere',
    address: 'a@elsewhere.example',
    want: {
      transport: 'smtp',
      nexthop: 'elsewhere.example',
      recipient: 'a@elsewhere.example',
      class: 'default',
    },
  },
  {
    name: 'relayhost is set',
    address: 'a@elsewhere.example',
    overrides: { relayhost: '[smarthost.example]:587' },
    want: {
      transport: 'smtp',
      nexthop: '[smarthost.example]:587',
      recipient: 'a@elsewhere.example',
      class: 'default',
    },
  },
  {
    name: 'relayhost is set and the domain is a relay domain',
    address: 'a@relay.example',
    overrides: { relayhost: '[smarthost.example]' },
    want: {
      transport: 'relay',
      nexthop: '[smarthost.example]',
      recipient: 'a@relay.example',
      class: 'relay',
    },
  },
  {
    name: 'default_transport names a nexthop',
    address: 'a@elsewhere.example',
    overrides: {
      relayhost: '[ignored.example]',
      default_transport: 'smtp:[dt.example]',
    },
    want: {
      transport: 'smtp',
      nexthop: '[dt.example]',
      recipient: 'a@elsewhere.example',
      class: 'default',
    },
  },
  {
    name: 'a percent route is aimed at us',
    address: 'a%elsewhere.example@mx.example.com',
    want: {
      transport: 'smtp',
      nexthop: 'elsewhere.example',
      recipient: 'a@elsewhere.example',
      class: 'default',
    },
  },
  {
    name: 'transport_maps has the full address with extension',
    address: 'user+ext@remote.example',
    overrides: { transport_maps: `texthash:${transportFile}` },
    want: {
      transport: 'smtp',
      nexthop: '[exact.example]',
      recipient: 'user+ext@remote.example',
      class: 'default',
    },
  },
  {
    name: 'transport_maps has the address without extension',
    address: 'user+other@remote.example',
    overrides: { transport_maps: `texthash:${transportFile}` },
    want: {
      transport: 'smtp',
      nexthop: '[base.example]',
      recipient: 'user+other@remote.example',
      class: 'default',
    },
  },
  {
    name: 'transport_maps has the domain with an empty transport',
    address: 'other@remote.example',
    overrides: { transport_maps: `texthash:${transportFile}` },
    want: {
      transport: 'smtp',
      nexthop: '[domain.example]:2525',
      recipient: 'other@remote.example',
      class: 'default',
    },
  },
  {
    name: 'transport_maps has a .parent entry with an empty nexthop',
    address: 'a@deep.sub.example',
    overrides: {
      transport_maps: `texthash:${transportFile}`,
      relayhost: '[rh.example]',
    },
    want: {
      transport: 'relay',
      nexthop: 'deep.sub.example',
      recipient: 'a@deep.sub.example',
      class: 'default',
    },
  },
  {
    name: 'transport_maps has the domain itself but not its parent form',
    address: 'a@sub.example',
    overrides: { transport_maps: `texthash:${transportFile}` },
    want: {
      transport: 'smtp',
      nexthop: '[only-self.example]',
      recipient: 'a@sub.example',
      class: 'default',
    },
  },
  {
    name: 'transport_maps has only the "*" wildcard',
    address: 'a@any.example',
    overrides: {
      transport_maps: `texthash:${transportFile}, inline:{ *=smtp:[wild.example] }`,
    },
    want: {
      transport: 'smtp',
      nexthop: '[wild.example]',
      recipient: 'a@any.example',
      class: 'default',
    },
  },
  {
    name: 'transport_maps sends a local domain elsewhere',
    address: 'joe@example.com',
    overrides: {
      transport_maps: 'inline:{ example.com=lmtp:unix:private/dovecot }',
    },
    want: {
      transport: 'lmtp',
      nexthop: 'unix:private/dovecot',
      recipient: 'joe@example.com',
      class: 'local',
    },
  },
  {
    name: 'transport_maps is consulted for a virtual alias domain',
    address: 'a@alias.example',
    overrides: { transport_maps: 'inline:{ alias.example=smtp:x }' },
    want: {
      transport: 'error',
      nexthop: '5.1.1 User unknown in virtual alias table',
      recipient: 'a@alias.example',
      class: 'virtual_alias',
    },
  },
];

for (const c of CASES) {
  test(`does resolve ${c.address} when ${c.name}`, async () => {
    const got = await resolveAddress(c.address, config(c.overrides));
    const { flags, ...rest } = got;
    assert.deepEqual(rest, c.want);
    assert.ok(flags & RESOLVE_CLASS[got.class]);
  });
}

test('does mark final destinations when the class is local or virtual', async () => {
  const cfg = config();
  assert.ok(
    (await resolveAddress('a@vmail.example', cfg)).flags & RESOLVE_FLAG.FINAL,
  );
  assert.ok(
    !((await resolveAddress('a@far.example', cfg)).flags & RESOLVE_FLAG.FINAL),
  );
});

test('does resolve the null address to the local mailer-daemon', async () => {
  const got = await resolveAddress('', config());
  assert.equal(got.recipient, 'mailer-daemon@example.com');
  assert.equal(got.class, 'local');
});

test('does flag bad syntax when the domain is not a host name', async () => {
  const got = await resolveAddress('a@bad..example', config());
  assert.equal(got.transport, 'error');
  assert.ok(got.flags & RESOLVE_FLAG.ERROR);
});

test('does flag a failure when a table cannot answer', async () => {
  const got = await resolveAddress(
    'a@far.example',
    config({ transport_maps: 'texthash:/nonexistent/transport' }),
  );
  assert.ok(got.flags & RESOLVE_FLAG.FAIL);
});

const REWRITE_CASES = [
  { address: 'joe', context: 'local', overrides: {}, want: 'joe@example.com' },
  {
    address: 'joe@host',
    context: 'local',
    overrides: { append_dot_mydomain: 'yes' },
    want: 'joe@host.example.com',
  },
  { address: 'joe@host', context: 'local', overrides: {}, want: 'joe@host' },
  {
    address: 'joe',
    context: 'local',
    overrides: { append_at_myorigin: 'no' },
    want: 'joe',
  },
  { address: 'host!joe', context: 'local', overrides: {}, want: 'joe@host' },
  {
    address: 'joe%host.example',
    context: 'local',
    overrides: {},
    want: 'joe@host.example',
  },
  { address: 'joe', context: 'remote', overrides: {}, want: 'joe' },
  {
    address: 'joe',
    context: 'remote',
    overrides: { remote_header_rewrite_domain: 'invalid.example' },
    want: 'joe@invalid.example',
  },
  { address: '', context: 'local', overrides: {}, want: '' },
  {
    address: 'joe@example.com.',
    context: 'local',
    overrides: {},
    want: 'joe@example.com',
  },
] as const;

for (const c of REWRITE_CASES) {
  test(`does rewrite ${JSON.stringify(c.address)} to ${c.want} in ${c.context} context`, async () => {
    const got = await rewriteAddress(c.address, c.context, config(c.overrides));
    assert.equal(got, c.want);
  });
}

test('does lower-case the nexthop when it comes from the recipient domain', async () => {
  const got = await resolveAddress('Joe@Far.EXAMPLE', config());
  assert.deepEqual(
    [got.nexthop, got.recipient],
    ['far.example', 'Joe@Far.EXAMPLE'],
  );
});

test('does give regexp transport_maps the full address only', async () => {
  const cfg = config({
    transport_maps:
      'regexp:{ {/^x\\.example$/ smtp:[domain-key]}, {/^b@/ smtp:[full]} }',
  });
  assert.equal((await resolveAddress('a@x.example', cfg)).nexthop, 'x.example');
  assert.equal((await resolveAddress('b@x.example', cfg)).nexthop, '[full]');
});
