// The smtp client's DNS (issue 5 point 1): MX preference order, A when
// there is no MX, [host] without MX, and Postfix's reasons for a name
// that does not exist, a server that fails and mail that loops back, all
// against a DNS server on loopback named by smtp_dns_resolver_address.

import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { testRequest, writeQueueFile } from '../services/local/local_testkit';
import {
  deliverSmtpRequest,
  type SmtpSettings,
} from '../services/smtp/smtp_deliver';
import { DnsSink } from './sink/dns_sink';
import { startSink, type SmtpSink } from './sink/smtp_sink';
import { smtpTestSettings } from './smtp_settings';

let dns: DnsSink;
let sink: SmtpSink;
let resolverAddress: string;

test.before(async () => {
  sink = await startSink({});
  dns = new DnsSink({
    // 127.0.0.3 has no listener on the sink's port: connection refused.
    'ex.test': {
      MX: [
        [20, 'mx2.ex.test'],
        [10, 'mx1.ex.test'],
      ],
    },
    'mx1.ex.test': { A: ['127.0.0.3'] },
    'mx2.ex.test': { A: ['127.0.0.1'] },
    'a.test': { A: ['127.0.0.1'] },
    'bad.test': { servfail: true },
    'self.test': {
      MX: [
        [10, 'client.example'],
        [20, 'mx2.ex.test'],
      ],
    },
    'empty.test': {},
  });
  resolverAddress = await dns.listen();
});

test.after(async () => {
  await sink.close();
  await dns.close();
});

function settings(): SmtpSettings {
  return smtpTestSettings({ resolverAddress, timeoutMs: 1000 });
}

async function deliver(nexthop: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smtp-dns-'));
  try {
    const m = { recipients: [{ recipient: 'bob@ex.test' }] };
    const q = writeQueueFile(dir, m);
    const req = { ...testRequest(q, m, 'QID3'), nexthop };
    return (await deliverSmtpRequest(settings(), req, q.file)).results[0];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('does try MX hosts in preference order and use the next on refusal', async () => {
  const before = sink.messages.length;
  dns.queries.length = 0;
  const r = await deliver(`ex.test:${sink.port}`);
  assert.equal(r.action, 'relayed', r.reason);
  assert.equal(sink.messages.length, before + 1);
  assert.deepEqual(dns.queries.slice(0, 2), ['ex.test/15', 'mx1.ex.test/1']);
});

test('does use the A record of a domain without MX', async () => {
  const r = await deliver(`a.test:${sink.port}`);
  assert.equal(r.action, 'relayed', r.reason);
});

test('does skip MX lookups for [host]', async () => {
  dns.queries.length = 0;
  const r = await deliver(`[mx2.ex.test]:${sink.port}`);
  assert.equal(r.action, 'relayed', r.reason);
  assert.ok(!dns.queries.some((q) => q.endsWith('/15')), String(dns.queries));
});

const FAILURES: Array<[string, string, string, string]> = [
  [
    'none.test',
    '5.4.4',
    'failed',
    'Host or domain name not found. Name service error for name=none.test type=MX: Host not found',
  ],
  [
    'bad.test',
    '4.4.3',
    'delayed',
    'Host or domain name not found. Name service error for name=bad.test type=MX: Host not found, try again',
  ],
  [
    'empty.test',
    '5.4.4',
    'failed',
    'Host or domain name not found. Name service error for name=empty.test type=AAAA: Host found but no data record of requested type',
  ],
  ['self.test', '5.4.6', 'failed', 'mail for self.test loops back to myself'],
];

for (const [domain, dsn, action, reason] of FAILURES)
  test(`does answer ${dsn} for ${domain}`, async () => {
    const r = await deliver(domain);
    assert.deepEqual([r.status, r.action, r.reason], [dsn, action, reason]);
  });
